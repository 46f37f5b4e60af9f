"""Keeping the API key out of every message, log line, exception and decoded body.

The key may come back escaped: in a ``repr`` (``\\'`` / ``\\\\``), URL-encoded (``%2F``, either case, or
``+`` for spaces), JSON-escaped (``\\"``, ``\\/``, ``\\uXXXX``). :func:`redact` replaces every such form
of it with ``***``; :func:`redact_body` does it for a decoded JSON body, walking it only when its text
could hold the key at all (so large bodies cost one substring search).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"


def _percent_forms(text: str) -> set[str]:
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)
    return {text, lower}


@lru_cache(maxsize=16)
def secret_forms(secret: str) -> tuple[str, ...]:
    """The texts the key may appear as, longest first."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms.add(secret.encode("unicode_escape").decode("ascii"))
    forms.add(repr(secret.encode("utf-8", "backslashreplace"))[2:-1])
    escaped = secret.replace("\\", "\\\\")
    forms |= {escaped, escaped.replace("'", "\\'"), escaped.replace('"', '\\"'), repr(secret)[1:-1]}
    forms.add(json.dumps(secret)[1:-1].replace("/", "\\/"))
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe="/")):
        forms |= _percent_forms(encoded)
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


@lru_cache(maxsize=16)
def _pattern(secret: str) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(form) for form in secret_forms(secret)))


def redact(text: str, secret: str | None) -> str:
    """``text`` with every form of ``secret`` replaced by ``***``."""
    if not secret or not text:
        return text
    return _pattern(secret).sub(MASK, text)


def may_contain(text: str, secret: str | None) -> bool:
    """Whether decoding JSON ``text`` could yield a string holding ``secret`` (cheap, never a false no)."""
    if not secret:
        return False
    escapes = "\\" in text  # one memchr: most pages have no backslash at all
    if escapes and "\\u" in text:
        return True
    if any(form in text for form in secret_forms(secret)):  # plain searches beat one alternation
        return True
    # Other JSON escapes only matter for a key containing a character they stand for.
    return escapes and any(c in secret for c in '"\\/\b\f\n\r\t')


def redact_json(value: Any, secret: str | None) -> Any:
    """Decoded JSON with ``secret`` redacted in every string, keys included.

    Iterative (a deeply nested body cannot exhaust the stack) and in place: only use it on a value
    just decoded by ``json.loads``, which shares no containers.
    """
    if not secret:
        return value
    if isinstance(value, str):
        return redact(value, secret)
    stack = [value] if isinstance(value, (dict, list)) else []
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = redact(item, secret)
                elif isinstance(item, (dict, list)):
                    stack.append(item)
        else:
            items = list(node.items())
            node.clear()
            for key, item in items:
                if isinstance(item, str):
                    item = redact(item, secret)
                elif isinstance(item, (dict, list)):
                    stack.append(item)
                node[redact(key, secret) if isinstance(key, str) else key] = item
    return value


def redact_body(text: str, payload: Any, secret: str | None) -> Any:
    """``payload`` (decoded from ``text``) with the key redacted; untouched when ``text`` cannot hold it."""
    return redact_json(payload, secret) if may_contain(text, secret) else payload
