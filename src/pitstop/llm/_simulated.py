"""`SimulatedLLM`: the embedded stand-in model for demos, tutorials and Binder.

It is not a language model. It reads the task with a few deterministic rules, picks
the tools that fit (several in one turn when the task asks for several independent
things), fills their arguments from the task's words, and then writes an answer from
the tool results, streamed at a realistic pace with realistic token usage. Everything
is deterministic for a given ``seed``, so tutorials print the same numbers each run.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pitstop.errors import ConfigError
from pitstop.llm._base import Message, StreamItem, ToolCall, ToolSpec, Usage, check_pacing
from pitstop.llm._function import Sleep
from pitstop.llm._pricing import PriceLike, Pricing
from pitstop.llm._summary import is_summary_request, read_transcript
from pitstop.llm._tokens import count_message_tokens, count_tokens, split_tokens

__all__ = ["SimulatedLLM"]

_NUMBER = r"-?\d+(?:\.\d+)?"
_EXPR_RE = re.compile(rf"\(*\s*{_NUMBER}\s*\)*(?:\s*(?:\*\*|[-+*/^%])\s*\(*\s*{_NUMBER}\s*\)*)+")
_NUM_RE = re.compile(_NUMBER)
_WORD_OPS = {
    "plus": "+",
    "add": "+",
    "sum": "+",
    "minus": "-",
    "subtract": "-",
    "times": "*",
    "multiply": "*",
    "multiplied": "*",
    "divide": "/",
    "divided": "/",
    "over": "/",
}
_OP_NAMES = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
_LANGS = {
    "spanish": "es",
    "french": "fr",
    "german": "de",
    "italian": "it",
    "japanese": "ja",
    "chinese": "zh",
    "portuguese": "pt",
    "dutch": "nl",
    "russian": "ru",
    "english": "en",
}
_SYNONYMS: dict[str, set[str]] = {
    "search": {
        "search",
        "find",
        "look",
        "lookup",
        "research",
        "news",
        "latest",
        "information",
        "info",
        "about",
        "who",
        "docs",
        "documentation",
    },
    "weather": {"weather", "temperature", "forecast", "rain", "sunny", "climate", "cold", "hot"},
    "calculator": {
        "calculate",
        "compute",
        "calculation",
        "sum",
        "add",
        "plus",
        "minus",
        "times",
        "multiply",
        "divide",
        "math",
        "arithmetic",
    },
    "translate": {
        "translate",
        "translation",
        "translator",
        "spanish",
        "french",
        "german",
        "italian",
        "japanese",
        "say",
    },
}
_STOPWORDS = set(
    "a an the and or of for to in on at by with from is are be this that it as into what "
    "how tool tools return returns result results simulated call calls api given".split()
)
_CLAUSE_SPLIT = re.compile(r"\s*(?:;|,|\band then\b|\bthen\b|\balso\b|\band\b)\s*", re.I)
_LEAD_VERBS = re.compile(
    r"^(?:please\s+)?(?:can you\s+)?(?:search(?: the web)?(?: for)?|find(?: out)?|look up|"
    r"look for|research|tell me about|what(?:'s| is) the latest (?:on|about)|get)\s+",
    re.I,
)
_LOCATION_RE = re.compile(r"\b(?:in|for|at)\s+([A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)*)")
_CAPITAL_RE = re.compile(r"\b([A-Z][A-Za-z.'-]+(?:\s+[A-Z][A-Za-z.'-]+)*)")
_QUOTED_RE = re.compile(r"[\"“']([^\"”']+)[\"”']")


_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_RE = re.compile(r"https?://[^\s\"'<>]+")
_DATE_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_ID_RE = re.compile(r"\b[A-Za-z]{0,4}[-#]?\d[\w-]*")
_TICKER_RE = re.compile(r"\b[A-Z]{2,6}\b")
_ENTITY_WORDS = {"name", "company", "city", "country", "location", "place", "person", "user",
                 "username", "brand", "product", "team", "airport", "organisation",
                 "organization", "customer", "author", "ticker", "symbol", "code"}


def _wants_entity(name: str, prop: Mapping[str, Any]) -> bool:
    """True when a string parameter holds one thing named in the task (a ticker, a city, an
    id, an email...), not free text, judged from its name, format and description."""
    parts = set(re.split(r"[_\-]", name))
    desc = str(prop.get("description", "")).lower()
    return bool(parts & (_ENTITY_WORDS | {"id", "email", "url", "link", "date"})) or \
        prop.get("format") in {"email", "uri", "url", "date"} or "symbol" in desc


def _entity_for(name: str, prop: Mapping[str, Any], clause: str) -> str | None:
    """The value of an entity-like string parameter found in `clause`, if any."""
    if not _wants_entity(name, prop):
        return None
    parts = set(re.split(r"[_\-]", name))
    desc = str(prop.get("description", "")).lower()
    fmt = prop.get("format")
    patterns: list[re.Pattern[str]] = []
    if "email" in parts or fmt == "email":
        patterns.append(_EMAIL_RE)
    if parts & {"url", "link"} or fmt in {"uri", "url"}:
        patterns.append(_URL_RE)
    if "date" in parts or fmt == "date" or "yyyy-mm-dd" in desc:
        patterns.append(_DATE_RE)
    if "id" in parts or "number" in parts:
        patterns.append(_ID_RE)
    if parts & {"ticker", "symbol", "code"} or "symbol" in desc:
        patterns.append(_TICKER_RE)
    for pattern in patterns:
        m = pattern.search(clause)
        if m:
            return m.group(0).rstrip(".,;:?!")
    q = _QUOTED_RE.search(clause)
    if q:
        return q.group(1)
    if patterns and not parts & _ENTITY_WORDS:
        return None
    caps = [c for c in _CAPITAL_RE.finditer(clause) if c.start() > 0]  # not the first word
    return caps[0].group(1).strip() if caps else None


def _number_near(name: str, clause: str) -> float | None:
    """A number written next to the parameter's name: ``30 days`` for `days`."""
    stem = name.split("_")[-1].rstrip("s")
    if len(stem) < 3:
        return None
    m = re.search(rf"({_NUMBER})\s*{re.escape(stem)}s?\b", clause, re.I) or \
        re.search(rf"\b{re.escape(stem)}s?\s*(?:of|=|:)?\s*({_NUMBER})", clause, re.I)
    return float(m.group(1)) if m else None


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOPWORDS}


def _family(name: str) -> str | None:
    """Which demo family a tool name belongs to, if any."""
    low = name.lower()
    for family in _SYNONYMS:
        if family in low or (family == "translate" and low.startswith("translat")):
            return family
    return None


class SimulatedLLM:
    """A deterministic simulated model: no network, no API key, realistic pacing.

    Args:
        time_to_first_token: seconds before the first delta of each answer.
        tokens_per_second: the pace of streamed text (None: no delay between tokens).
        seed: makes the pacing jitter and the wording reproducible.
        price_as: a real model whose price the simulated usage is billed at, e.g.
            ``"gpt-4o-mini"``, so tutorials show dollars (None: cost None).
        price: an explicit `Price` (or ``{"input": ..., "output": ...}`` per million
            tokens) instead.
        prompt_cache: simulate a provider's prompt cache the way OpenAI bills it: a
            prompt of 1,024 tokens or more whose leading messages were sent before has
            those tokens (in steps of 128) reported as ``cached_input_tokens``.
        sleep: how the pacing waits; `pitstop.testing.FakeClock.sleep` makes it run on
            fake time in tests.
    """

    def __init__(
        self,
        *,
        time_to_first_token: float = 0.3,
        tokens_per_second: float | None = 60.0,
        seed: int = 0,
        price_as: str | None = None,
        price: PriceLike | None = None,
        prompt_cache: bool = True,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        check_pacing("SimulatedLLM", time_to_first_token, tokens_per_second)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"SimulatedLLM(seed=...) takes an int, got {seed!r:.60}.")
        self.time_to_first_token = time_to_first_token
        self.tokens_per_second = tokens_per_second
        self.seed = seed
        self.sleep = sleep
        self.model = "simulated-llm"
        self.pricing = Pricing(price_as, price)
        """How the simulated usage is priced."""
        self.prompt_cache = prompt_cache
        self._prefixes: OrderedDict[int, int] = OrderedDict()  # prefix hash -> tokens
        self.calls = 0

    def __repr__(self) -> str:
        return (
            f"SimulatedLLM(time_to_first_token={self.time_to_first_token}, "
            f"tokens_per_second={self.tokens_per_second}, seed={self.seed})"
        )

    # -- the protocol -------------------------------------------------------------

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamItem]:
        self.calls += 1
        calls, text = self.respond(messages, tools)
        rng = random.Random(self.seed * 1_000_003 + zlib.crc32(text.encode()) + len(calls))
        tool_tokens = sum(
            count_tokens(t.name + t.description + json.dumps(dict(t.parameters))) for t in tools
        )
        input_tokens = count_message_tokens(messages) + tool_tokens
        cached = self._cached_tokens(messages, tool_tokens) if self.prompt_cache else 0
        if self.time_to_first_token:
            await self.sleep(self.time_to_first_token * rng.uniform(0.85, 1.15))
        pieces = split_tokens(text)
        if max_tokens is not None:
            pieces = pieces[:max_tokens]
        base = 1.0 / self.tokens_per_second if self.tokens_per_second else 0.0
        for piece in pieces:
            await self.sleep(base * rng.uniform(0.7, 1.3))
            yield piece
        out = len(pieces)
        for k, call in enumerate(calls):
            out += count_tokens(call.name + json.dumps(dict(call.arguments)))
            yield ToolCall(call.name, call.arguments, f"sim_{self.calls}_{k}")
        cost = self.pricing.cost(input_tokens, out, cached) if self.pricing.enabled else None
        yield Usage(input_tokens, out, cached, 0, cost)

    def _cached_tokens(self, messages: Sequence[Message], tool_tokens: int) -> int:
        """Tokens of the longest message prefix sent before, as OpenAI caches them:
        only prompts of 1,024+ tokens, in steps of 128. Remembers the last 256 prefixes."""
        seen = self._prefixes
        h = hash(tool_tokens)
        tokens = tool_tokens
        cached = 0
        for m in messages:
            h = hash((h, m.role, m.content, m.tool_call_id, repr(m.tool_calls)))
            tokens += count_message_tokens([m])
            if h in seen:
                cached = seen[h]
                seen.move_to_end(h)
            else:
                seen[h] = tokens
        while len(seen) > 256:
            seen.popitem(last=False)
        return 0 if cached < 1024 else cached - cached % 128

    # -- deciding what to say ---------------------------------------------------------

    def respond(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> tuple[list[ToolCall], str]:
        """The tool calls and the text this model answers with (no pacing)."""
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        task = messages[last_user].content if last_user >= 0 else ""
        if is_summary_request(messages, tools):
            return [], self._summary(task)
        results = [m for m in messages[last_user + 1 :] if m.role == "tool"]
        if results:
            return [], self._answer_from_results(task, results)
        calls = self._plan(task, tools)
        if calls:
            return calls, ""
        return [], self._direct_answer(task)

    def _plan(self, task: str, tools: Sequence[ToolSpec]) -> list[ToolCall]:
        calls: list[ToolCall] = []
        seen: set[tuple[str, str]] = set()
        previous: ToolSpec | None = None
        for clause in [c for c in _CLAUSE_SPLIT.split(task) if c and c.strip()]:
            spec = self._best_tool(clause, tools)
            args = self._fill(spec, clause) if spec else None
            if args is None and previous is not None:
                spec, args = previous, self._fill(previous, clause)  # "in Paris and London"
            if spec is None or args is None:
                continue
            key = (spec.name, json.dumps(args, sort_keys=True))
            if key not in seen:
                seen.add(key)
                calls.append(ToolCall(spec.name, args))
            previous = spec
        return calls

    def _best_tool(self, clause: str, tools: Sequence[ToolSpec]) -> ToolSpec | None:
        words = _words(clause)
        best: tuple[float, ToolSpec] | None = None
        for spec in tools:
            family = _family(spec.name)
            score = 0.0
            if family is not None:
                score += 2.0 * len(words & _SYNONYMS[family])
                if family == "calculator" and _EXPR_RE.search(clause):
                    score += 3.0
            name_parts = {p for p in re.split(r"[_\-]", spec.name.lower()) if len(p) > 2}
            score += 2.0 * len(words & name_parts)
            desc = {w for w in _words(spec.description) if len(w) > 4}
            score += 0.5 * len(words & desc)
            if score > 0 and (best is None or score > best[0]):
                best = (score, spec)
        return best[1] if best and best[0] >= 1.0 else None

    def _fill(self, spec: ToolSpec | None, clause: str) -> dict[str, Any] | None:
        """Arguments for `spec` taken from `clause`, or None when a required one is missing."""
        if spec is None:
            return None
        props: Mapping[str, Any] = spec.parameters.get("properties", {})
        required = set(spec.parameters.get("required", []))
        family = _family(spec.name)
        numbers = [float(n) for n in _NUM_RE.findall(clause)]
        args: dict[str, Any] = {}
        if family == "calculator":
            calc = self._calculator_args(clause, props)
            if calc is None:
                return None
            args.update(calc)
        for name, prop in props.items():
            if name in args:
                continue
            value = self._value_for(name, prop, clause, numbers, family)
            if value is not None:
                args[name] = value
            elif name in required:
                return None
        return args

    @staticmethod
    def _calculator_args(clause: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        expr = _EXPR_RE.search(clause)
        low = clause.lower()
        if expr is None:
            op = next((sym for word, sym in _WORD_OPS.items() if word in low.split()), None)
            nums = _NUM_RE.findall(clause)
            if op is None or len(nums) < 2:
                return None
            text = f"{nums[0]} {op} {nums[1]}"
        else:
            text = expr.group(0).strip()
        if "expression" in props:
            return {"expression": text.replace("^", "**")}
        m = re.fullmatch(rf"\s*({_NUMBER})\s*([-+*/])\s*({_NUMBER})\s*", text)
        if m and {"operation", "a", "b"} <= set(props):
            return {
                "operation": _OP_NAMES[m.group(2)],
                "a": float(m.group(1)),
                "b": float(m.group(3)),
            }
        return None

    @staticmethod
    def _value_for(
        name: str, prop: Mapping[str, Any], clause: str, numbers: list[float], family: str | None
    ) -> Any:
        kind = prop.get("type")
        if "anyOf" in prop:
            kinds = [p.get("type") for p in prop["anyOf"] if p.get("type") != "null"]
            kind = kinds[0] if kinds else None
        low = name.lower()
        if "enum" in prop:
            options = [str(o) for o in prop["enum"]]
            return next((o for o in options if o.lower() in clause.lower()), None)
        if low in {"location", "city", "place", "where"}:
            m = _LOCATION_RE.search(clause)
            if m:
                return m.group(1).strip()
            caps = list(_CAPITAL_RE.finditer(clause))
            later = [c for c in caps if c.start() > 0]
            if later:
                return later[0].group(1).strip()
            short = len(clause.split()) <= 3
            return caps[0].group(1).strip() if caps and short else None
        if low in {"target", "language", "target_language", "lang", "to"}:
            for lang, code in _LANGS.items():
                if lang in clause.lower():
                    return code
            return None
        if low in {"text", "phrase", "sentence"} and family == "translate":
            q = _QUOTED_RE.search(clause)
            if q:
                return q.group(1)
            m = re.search(r"translate\s+(.+?)\s+(?:to|into)\s+\w+", clause, re.I)
            return m.group(1) if m else None
        if kind == "string":
            picked = _entity_for(low, prop, clause)
            if picked is not None:
                return picked
            if "default" in prop or _wants_entity(low, prop):
                return None
            q = _QUOTED_RE.search(clause)
            text = q.group(1) if q else _LEAD_VERBS.sub("", clause.strip()).strip(" .?!")
            return text or None
        if kind in {"integer", "number"}:
            near = _number_near(low, clause)
            if near is not None:  # "30 days" fills `days`, even over its default
                if near in numbers:
                    numbers.remove(near)
                return int(near) if kind == "integer" else near
            if "default" in prop or not numbers:
                return None
            value = numbers.pop(0)
            return int(value) if kind == "integer" else value
        if kind == "boolean":
            return None if "default" in prop else True
        return None

    # -- writing answers ------------------------------------------------------------------

    def _answer_from_results(self, task: str, results: Sequence[Message]) -> str:
        lines = [f"Here is what I found for: {task.strip()[:120]}"]
        for m in results:
            content = m.content.strip().replace("\n", " ")
            if len(content) > 160:
                content = content[:157] + "..."
            lines.append(f"- {m.name or 'tool'}: {content}")
        failures = sum(1 for m in results if m.content.startswith("Error"))
        if failures:
            lines.append(f"{failures} of {len(results)} tool calls failed; see above.")
        lines.append("(Answer written by pitstop's SimulatedLLM from the tool results.)")
        return "\n".join(lines)

    def _direct_answer(self, task: str) -> str:
        rng = random.Random(self.seed + zlib.crc32(task.encode()))
        openers = [
            "Here is a short answer.",
            "Good question.",
            "Let me answer directly, no tools needed.",
        ]
        topic = task.strip().rstrip("?.!")[:160] or "your request"
        return (
            f"{rng.choice(openers)} You asked about: {topic}. "
            "I am pitstop's SimulatedLLM, a deterministic stand-in for a real model, so this "
            "text shows how an answer streams rather than what a real model would say. "
            "Connect a real model with OpenAIClient to get real answers."
        )

    @staticmethod
    def _summary(transcript: str) -> str:
        """An extractive summary: what the user asked and which tools ran, in order.

        Earlier summaries in the transcript are folded in, so the summary of a long
        session stays one short paragraph instead of nesting.
        """
        asked: list[str] = []
        tools: dict[str, int] = {}
        for line in read_transcript(transcript):
            if line.kind == "summary":
                m = re.search(r"The user asked: (.*?)(?:\. Tools called: (.*?))?\.?$", line.text)
                if m:
                    asked.extend(a for a in m.group(1).split("; ") if a)
                    for part in (m.group(2) or "").split(", "):
                        name, _, n = part.rpartition(" x")
                        if name and n.isdigit():
                            tools[name] = tools.get(name, 0) + int(n)
            elif line.kind == "said" and line.role == "user":
                asked.append(line.text.rstrip(".?!")[:80])
            elif line.kind == "called" and line.role == "assistant":
                tools[line.tool] = tools.get(line.tool, 0) + 1
        if not asked and not tools:
            return "Summary of the earlier conversation: nothing of note was said."
        text = "Summary of the earlier conversation. The user asked: " + "; ".join(asked)
        if tools:
            text += ". Tools called: " + ", ".join(f"{k} x{v}" for k, v in tools.items())
        return text + "."

