"""A fast stand-in of the Runtype results endpoint for the benchmarks: pages recorded from the local Runtype, served
from memory over raw keep-alive sockets (a thread per connection, pipelining allowed), so the client's own cost
is what a loopback benchmark measures (the local Runtype spends about 2 ms of CPU per 100-row page; this about
0.05-0.1 ms, measured and printed by ``bench_results.py`` from /proc).

Usage: python scripts/bench_server.py PAGES_FILE PORT_FILE

``PAGES_FILE`` is JSON ``{"path": ..., "pages": [<page body>, ...], "extra": {<path>: <body>}}`` (page ``i``
answers ``offset = 100 i``; ``extra`` answers other paths whatever their query, such as the run's status;
optional ``cycles`` ``{<path>: <total>}``: listings of ``total`` rows made of the recorded pages' rows over and
over, with their own pagination, for memory checks past what the local Runtype holds);
``GET /_latency?seconds=S`` makes every later answer wait ``S`` seconds (in its connection's thread). Any other
path is a 404. Loopback only (binds 127.0.0.1); it checks no key: only the benchmark talks to it.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

_latency = [0.0]
CYCLES: dict[str, int] = {}
ROWS: list[str] = []


def _answer(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def cycled(rows: list[str], total: int, offset: int, page_size: int) -> bytes:
    """The page at ``offset`` of a listing of ``total`` rows made of the recorded pages' rows, repeated."""
    data = rows[(offset // page_size) % len(rows)] if offset < total else "[]"
    more = "true" if offset + page_size < total else "false"
    pagination = f'{{"hasMore": {more}, "limit": {page_size}, "offset": {offset}, "total": {total}}}'
    return _answer("200 OK", f'{{"data": {data}, "pagination": {pagination}}}'.encode())


def serve(conn: socket.socket, path: str, answers: list[bytes], page_size: int, extra: dict[str, bytes]) -> None:
    missing = _answer("404 Not Found", b'{"error":"not found"}')
    buffer = b""
    with conn:
        while True:
            end = buffer.find(b"\r\n\r\n")
            while end < 0:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                end = buffer.find(b"\r\n\r\n")
            head, buffer = buffer[:end], buffer[end + 4 :]
            target = head.split(b" ", 2)[1].decode()
            where, _, query = target.partition("?")
            params = dict(parse_qsl(query))
            if where == "/_latency":
                _latency[0] = float(params["seconds"])
                conn.sendall(_answer("200 OK", b"{}"))
                continue
            if _latency[0]:
                time.sleep(_latency[0])
            if where in extra:
                conn.sendall(extra[where])
                continue
            if where in CYCLES:
                conn.sendall(cycled(ROWS, CYCLES[where], int(params.get("offset", 0)), page_size))
                continue
            index, rest = divmod(int(params.get("offset", 0)), page_size)
            ok = where == path and not rest and 0 <= index < len(answers)
            conn.sendall(answers[index] if ok else missing)


def main() -> None:
    recorded = json.loads(Path(sys.argv[1]).read_text())
    answers = [_answer("200 OK", page.encode()) for page in recorded["pages"]]
    page_size = int(recorded.get("page_size", 100))
    extra = {where: _answer("200 OK", body.encode()) for where, body in recorded.get("extra", {}).items()}
    CYCLES.update(recorded.get("cycles", {}))
    if CYCLES:
        ROWS.extend(json.dumps(json.loads(page)["data"]) for page in recorded["pages"])
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    Path(sys.argv[2]).write_text(str(listener.getsockname()[1]))
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(conn, recorded["path"], answers, page_size, extra), daemon=True).start()


if __name__ == "__main__":
    main()
