"""The request log of the local Runtype: what tests read to count and inspect API calls, in bounded memory.

* at most ``Settings.max_logged_requests`` entries (default 10,000): the oldest go first, counted in ``dropped``;
* a logged path or query string is cut to ``MAX_LOGGED_TEXT`` characters (ending in ``TRUNCATED``), after the
  secrets in it were masked (so a cut never leaves half a key);
* a body is kept as the raw bytes the client sent, only when the request carried a valid API key and the body is
  at most ``MAX_LOGGED_BODY`` bytes; all kept bodies together stay under ``MAX_LOGGED_BODIES`` bytes (the oldest
  bodies are forgotten first, their entries stay). Bodies are parsed as JSON when the log is read (``None`` when
  empty, not JSON or too deep), so a small body never grows into a large object in the log;
* requests refused for their ``Host`` are not logged, only counted (``refused_hosts``).

Not thread-safe: ``store.Store`` calls it under its lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from runtype_provider.testing.fake.wire import loads_json, mask

MAX_LOGGED_BODY = 64 * 1024
"""Largest request body the log keeps, in bytes (larger: the entry's ``body`` is ``None``)."""
MAX_LOGGED_BODIES = 16 * 1024 * 1024
"""Bytes of all kept bodies together; past it the oldest bodies are forgotten (their entries stay)."""
MAX_LOGGED_TEXT = 2048
"""Longest logged path or query string, in characters (longer ones are cut and end in ``TRUNCATED``)."""
TRUNCATED = "...[truncated]"


def cut(text: str, limit: int = MAX_LOGGED_TEXT) -> str:
    """``text``, or its start and ``TRUNCATED`` when it is longer than ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


@dataclass(eq=False)
class LogEntry:
    """One logged API request; the app sets ``status`` when it answers (``None``: no answer, e.g. dropped)."""

    method: str
    path: str
    query: str
    operation: str | None
    fault: str | None
    status: int | None = None
    raw_body: bytes | None = None
    logged: bool = True
    """False once the entry left the log (a body that arrives later is then not kept)."""

    def to_dict(self, secrets: list[str]) -> dict[str, Any]:
        """The entry as tests read it, with ``secrets`` masked and the body parsed."""
        body = None
        if self.raw_body:
            try:
                body = loads_json(self.raw_body)
            except ValueError:  # not JSON, or too deep
                body = None
        entry = {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "operation": self.operation,
            "status": self.status,
            "fault": self.fault,
            "body": body,
        }
        return dict(mask(entry, secrets))


class RequestLog:
    """Bounded entries (oldest first) plus the counts of what it did not keep."""

    def __init__(self) -> None:
        self._entries: deque[LogEntry] = deque()
        self._with_body: deque[LogEntry] = deque()  # entries holding a body, oldest first
        self._body_bytes = 0
        self.dropped = 0
        self.refused_hosts = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: LogEntry, limit: int, secrets: list[str]) -> LogEntry:
        """Append ``entry`` (path and query masked, then cut) and drop the oldest past ``limit`` entries."""
        entry.path = cut(mask(entry.path, secrets))
        entry.query = cut(mask(entry.query, secrets))
        entry.raw_body, entry.logged = None, True
        self._entries.append(entry)
        self.trim(limit)
        return entry

    def trim(self, limit: int) -> None:
        """Drop the oldest entries until at most ``limit`` remain; they count as ``dropped``."""
        while len(self._entries) > limit:
            old = self._entries.popleft()
            old.logged = False
            self._forget_body(old)
            self.dropped += 1

    def keep_body(self, entry: LogEntry, raw: bytes) -> None:
        """Keep ``raw`` as the body of ``entry`` if it is still logged and ``raw`` is small enough."""
        self._forget_body(entry)
        if not entry.logged or not raw or len(raw) > MAX_LOGGED_BODY:
            return
        entry.raw_body = raw
        self._with_body.append(entry)
        self._body_bytes += len(raw)
        while self._body_bytes > MAX_LOGGED_BODIES:
            self._forget_body(self._with_body[0])

    def _forget_body(self, entry: LogEntry) -> None:
        if entry.raw_body is None:
            return
        self._body_bytes -= len(entry.raw_body)
        entry.raw_body = None
        if self._with_body and self._with_body[0] is entry:
            self._with_body.popleft()
        else:
            self._with_body.remove(entry)

    def close(self) -> None:
        """Mark every entry as no longer logged (the log is being replaced): late bodies are not kept."""
        for entry in self._entries:
            entry.logged = False

    def entries(self, secrets: list[str]) -> list[dict[str, Any]]:
        """Every entry as a dict (oldest first), ``secrets`` masked."""
        return [entry.to_dict(secrets) for entry in self._entries]

    def stats(self) -> dict[str, int]:
        """``logged`` (entries kept), ``dropped`` (entries that left for the bound), ``refused_hosts``."""
        return {"logged": len(self._entries), "dropped": self.dropped, "refused_hosts": self.refused_hosts}
