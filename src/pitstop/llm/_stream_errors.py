"""Internal signals of a streamed model answer; `OpenAIClient.stream` turns each into
a `pitstop.errors` exception or a retry."""

from __future__ import annotations

__all__: list[str] = []  # private signals only, imported by name


class _BadChunk(Exception):
    """An SSE event that is not a JSON chat completion chunk."""

    def __init__(self, data: bytes, reason: str) -> None:
        super().__init__(reason)
        self.data = data
        self.reason = reason

    def shown(self, limit: int = 120) -> str:
        """The bad bytes, shortened, as a Python bytes literal."""
        data = self.data if len(self.data) <= limit else self.data[:limit] + b"..."
        return repr(data)


class _StreamCutError(Exception):
    """The body ended cleanly but without a finish reason: the server went away."""


class _StreamErrorEvent(Exception):
    """The server sent an error object inside the stream."""
