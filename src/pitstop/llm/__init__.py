"""Models: the LLMClient protocol, messages, SimulatedLLM, FunctionLLM, OpenAIClient."""
