"""``runtype-local``: run the local Runtype in the foreground (for the demo, benchmarks, manual tests).

Binds a loopback address only, answers only requests whose ``Host`` is a loopback name (or an
``--allowed-host``), prints the URL, the API key and the admin token (random unless ``--admin-token``), optionally
writes the bound port to ``--port-file`` (atomically, after those lines are printed; removed again on exit), and
stops cleanly (exit code 0) on SIGINT or SIGTERM. Drive it from another process through the ``/_local/`` admin
routes (see ``ADMIN_HELP``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from pathlib import Path
from types import FrameType

from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.settings import DEFAULT_API_KEY, DEFAULT_MAX_LOGGED_REQUESTS, Settings

ADMIN_HELP = """\
admin routes:
  Another process drives the server through /_local/ (config, schedules, surfaces, faults, requests,
  reset). Every admin route except GET /_local/health needs "Authorization: Bearer <admin token>"; the
  admin token is --admin-token if given, else a random token printed at start ("Admin token: ..."; never
  an API key). Admin writes take Content-Type: application/json bodies only. No admin answer contains the
  API key or the admin token.

hosts:
  Requests must name the server by a loopback Host (localhost, 127.0.0.0/8 or [::1], any port; this
  stops DNS-rebinding web pages); others get 421. --allowed-host adds a name.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runtype-local",
        description="Run a local imitation of the Runtype API.",
        epilog=ADMIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free port (default 0)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help=f"accepted API key (default {DEFAULT_API_KEY})")
    parser.add_argument("--read-only-api-key", default=None, help="an extra key that may only make GET calls")
    parser.add_argument(
        "--admin-token", default=None, help="Bearer token of the /_local/ admin routes (default: random, printed)"
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests with this Host name (repeatable; default: loopback names only)",
    )
    parser.add_argument(
        "--max-logged-requests",
        type=int,
        default=DEFAULT_MAX_LOGGED_REQUESTS,
        help=f"entries the request log keeps, oldest dropped first (default {DEFAULT_MAX_LOGGED_REQUESTS})",
    )
    parser.add_argument("--queued-seconds", type=float, default=0.5, help="time a run stays queued (default 0.5)")
    parser.add_argument("--running-seconds", type=float, default=2.0, help="time a run stays running (default 2)")
    parser.add_argument("--failure-share", type=float, default=0.0, help="share of records that fail (0-1)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each API answer waits (0-60, default 0)")
    parser.add_argument("--record-count", type=int, default=10, help="records per run of a record-type schedule")
    parser.add_argument("--max-active-schedules", type=int, default=None, help="402 above this many active")
    parser.add_argument("--cron-runs", action="store_true", help="start runs at the schedules' cron times")
    parser.add_argument("--seed-demo", action="store_true", help="seed demo schedules (incl. a surface schedule)")
    parser.add_argument("--port-file", type=Path, default=None, help="write the bound port to this file")
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def _write_port_file(path: Path, port: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``runtype-local``; returns the process exit code."""
    args = _parser().parse_args(argv)
    import uvicorn

    from runtype_provider.testing.fake.app import create_app
    from runtype_provider.testing.local import bind_socket, format_url, is_loopback

    if not is_loopback(args.host):
        print(f"runtype-local: refusing to bind non-loopback host {args.host!r}", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            state = State(
                Settings(
                    api_key=args.api_key,
                    read_only_api_key=args.read_only_api_key,
                    admin_token=args.admin_token,
                    allowed_hosts=tuple(args.allowed_host),
                    max_logged_requests=args.max_logged_requests,
                    queued_seconds=args.queued_seconds,
                    running_seconds=args.running_seconds,
                    failure_share=args.failure_share,
                    latency_seconds=args.latency,
                    default_record_count=args.record_count,
                    max_active_schedules=args.max_active_schedules,
                    cron_runs=args.cron_runs,
                )
            )
        sock = bind_socket(args.host, args.port)
    except (ValueError, OSError) as exc:
        print(f"runtype-local: {exc}", file=sys.stderr)
        return 2
    for warning in caught:
        print(f"runtype-local: warning: {warning.message}", file=sys.stderr, flush=True)
    seeded = state.seed_demo() if args.seed_demo else []
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(state), log_level=args.log_level, lifespan="off", ws="none", timeout_graceful_shutdown=2
        )
    )

    def request_exit(signum: int, frame: FrameType | None) -> None:
        # Active before uvicorn installs its own handlers and again after it restores ours (it
        # re-raises the signal it caught): either way, just ask the server to stop.
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_exit)
    url = format_url(sock)
    port = sock.getsockname()[1]
    print(f"Local Runtype listening on {url}", flush=True)
    print(f"API key: {args.api_key}", flush=True)
    # A random token is printed for the caller to use; a given one is not echoed (the caller knows it).
    print(f"Admin token: {'<the --admin-token value>' if args.admin_token else state.admin_token}", flush=True)
    print(f"Admin routes ({url}/_local/): send Authorization: Bearer <admin token>", flush=True)
    if args.allowed_host:
        print("Also answering Host names: " + ", ".join(args.allowed_host), flush=True)
    connection = json.dumps({"conn_type": "runtype", "host": url, "password": args.api_key})
    print(f"AIRFLOW_CONN_RUNTYPE_DEFAULT='{connection}'")
    if seeded:
        print("Seeded schedules: " + ", ".join(f"{s['id']} ({s['name']})" for s in seeded))
    sys.stdout.flush()
    if args.port_file:
        _write_port_file(args.port_file, port)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if args.port_file:
            args.port_file.unlink(missing_ok=True)
    print("Local Runtype stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
