"""Safe Markdown for model output, whole or while it streams.

**Safe.** The model's text is untrusted: `markdown-it-py` renders CommonMark plus
tables with raw HTML *disabled*, so ``<script>`` or ``<img onerror=...>`` from the
model shows as text, and its link validator drops ``javascript:`` and ``data:`` URLs.

**Progressive, with bytes proportional to the text.** A browser cannot append to
rendered HTML, and re-sending the whole rendering at every update would grow with
the square of the answer. `MarkdownStream` therefore splits the text into top-level
blocks (paragraphs, headings, lists, tables, code fences): a block is *committed*,
rendered once and sent once, as soon as a later block starts (nothing after it can
change it), and only the last, still growing block is re-rendered at each update.
That tail is kept short: past `TAIL_CHARS` it is committed at its last line break
(or space), so a single huge paragraph costs at most `TAIL_CHARS` per update. The
split is a live approximation; the final output renders the whole answer at once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["TAIL_CHARS", "MarkdownStream", "markdown_html"]

TAIL_CHARS = 300
"""The longest still-growing tail re-rendered at each update (characters)."""


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown_html(text: str) -> str:
    """`text` as HTML: CommonMark and tables, raw HTML shown as text."""
    return _md().render(text) if text else ""


class MarkdownStream:
    """Turns a growing text into committed HTML blocks plus a re-rendered tail."""

    def __init__(self, *, tail_chars: int = TAIL_CHARS) -> None:
        self.tail_chars = tail_chars
        self.committed = 0
        """Characters of the text already sent as committed blocks."""
        self._reopen = ""  # a code fence's opening line, when a cut fell inside the fence

    def feed(self, text: str) -> tuple[str, str]:
        """``(new committed HTML, tail HTML)`` for the text so far (which only grows)."""
        prefix = self._reopen
        pending = prefix + text[self.committed :]
        cut = _last_block_start(pending)
        reopen = prefix if cut == 0 else ""
        if len(pending) - cut > self.tail_chars:
            block = pending[cut:]
            soft = _soft_cut(pending, len(pending) - self.tail_chars)
            if soft > cut:
                reopen = _open_fence(block)
                cut = soft
        if cut == 0:
            return "", markdown_html(pending)
        self.committed += max(0, cut - len(prefix))
        self._reopen = reopen
        return markdown_html(pending[:cut]), markdown_html(reopen + pending[cut:])

    def close(self, text: str) -> str:
        """The HTML of everything not yet committed; the stream is then complete."""
        rest = self._reopen + text[self.committed :]
        self.committed, self._reopen = len(text), ""
        return markdown_html(rest)


def _open_fence(block: str) -> str:
    """The opening line of `block` when it is a code fence not yet closed, else ``""``."""
    first, _, rest = block.partition("\n")
    marker = first.lstrip(" ")[:3]
    if marker not in ("```", "~~~") or len(first) - len(first.lstrip(" ")) > 3:
        return ""
    closed = any(line.lstrip(" ").startswith(marker) for line in rest.split("\n"))
    return "" if closed else first + "\n"


def _last_block_start(text: str) -> int:
    """Offset where the last top-level block begins (0 when there is at most one)."""
    starts = [t.map[0] for t in _md().parse(text) if t.level == 0 and t.nesting >= 0 and t.map]
    if len(starts) < 2:
        return 0
    line = starts[-1]
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset


def _soft_cut(text: str, at_least: int) -> int:
    """A cut at or after `at_least`: just after a line break, else a space, else there."""
    for sep in ("\n", " "):
        i = text.rfind(sep, at_least)
        if i >= 0:
            return i + 1
    return at_least
