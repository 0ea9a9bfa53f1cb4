"""Tools: Tool, @tool, the registry, the parallel executor and the demo tools."""
