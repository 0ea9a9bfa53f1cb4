"""Credentials out of every URL pitstop prints, logs, raises or puts in events and spans.

``redis://:secret@host:6379/0`` is shown as ``redis://:***@host:6379/0``; a user name
alone (often a token) as ``***@``; query parameters that carry secrets
(``password=``, ``api_key=``, ``token=`` ...) as ``name=***``. The real URL is kept
only where a connection is made.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_text", "redact_url"]

_SECRET_PARAM = re.compile(r"(?i)([?&][^=&#]*(?:pass|key|token|secret|auth)[^=&#]*=)[^&#]*")
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """`url` with its password, a lone user name and secret query values replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    query = _SECRET_PARAM.sub(r"\1***", "?" + parts.query)[1:] if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (for messages of other libraries)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
