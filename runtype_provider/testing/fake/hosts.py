"""Which ``Host`` headers the local Runtype answers: loopback names only (a defence against DNS rebinding).

A web page can make a browser send requests to ``http://127.0.0.1:PORT`` under a name the page's owner controls
(``evil.example`` first resolves to the attacker, then to 127.0.0.1): the browser then treats the local Runtype as
part of that page's origin and lets the page read its answers. The browser still sends ``Host: evil.example``, so
the app answers only requests whose ``Host`` is a loopback name:

* ``localhost`` (any letter case; not ``localhost.`` with a trailing dot, nor any ``*.localhost``);
* an IPv4 literal in 127.0.0.0/8 written the standard dotted way (``127.0.0.1``, ``127.1.2.3``; not ``127.1``,
  ``2130706433`` or ``0x7f.0.0.1``);
* the IPv6 loopback in brackets (``[::1]``, ``[0:0:0:0:0:0:0:1]``; no zone id);
* each with or without a ``:port`` of 1 to 5 digits (any port: the name is what rebinding changes);
* plus the names of ``Settings.allowed_hosts``, each an explicit, validated host name or IP literal (no wildcard).

A request with no ``Host`` or with several is refused too. Standard library only; imports nothing of ours.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterable

LOOPBACK_NAME = "localhost"
MAX_ALLOWED_HOSTS = 100
_PORT = re.compile(r":[0-9]{1,5}")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DOTTED_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")


def split_host(value: str) -> str | None:
    """The name part of a ``Host`` value (``name``, ``name:port``, ``[v6]`` or ``[v6]:port``), lower-cased;
    ``None`` when the value is not of that shape (a bad port, a bare IPv6 address, whitespace ...)."""
    if value.startswith("["):
        end = value.find("]") + 1
        name, rest = (value[:end], value[end:]) if end else (value, "")
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if not name or (rest and not (_PORT.fullmatch(rest) and int(rest[1:]) <= 65535)):
        return None
    return name.lower()


def is_loopback_name(name: str) -> bool:
    """``localhost``, a dotted IPv4 address in 127.0.0.0/8 or ``[::1]`` (``name`` lower-case, without a port)."""
    if name == LOOPBACK_NAME:
        return True
    if name.startswith("[") and name.endswith("]"):
        inner = name[1:-1]
        if "%" in inner or "." in inner:  # no zone ids, no IPv4-mapped forms
            return False
        try:
            return ipaddress.IPv6Address(inner) == ipaddress.IPv6Address("::1")
        except ValueError:
            return False
    if not _DOTTED_IPV4.fullmatch(name):
        return False
    try:
        return ipaddress.IPv4Address(name).is_loopback
    except ValueError:  # an octet above 255, or a leading zero
        return False


def host_name_error(name: object) -> str | None:
    """Why ``name`` cannot be an ``allowed_hosts`` entry, or ``None``: a DNS name (letters, digits, hyphens and
    dots, at most 253 characters, no trailing dot), a dotted IPv4 address or a bracketed IPv6 address, with no
    port and no wildcard."""
    if not isinstance(name, str):
        return f"must be a string, got {type(name).__name__}"
    lowered = name.lower()
    if lowered.startswith("[") and lowered.endswith("]"):
        try:
            ipaddress.IPv6Address(lowered[1:-1])
        except ValueError:
            return f"{name!r} is not a bracketed IPv6 address"
        return None if "%" not in lowered else f"{name!r} has a zone id"
    if _DOTTED_IPV4.fullmatch(lowered):
        try:
            ipaddress.IPv4Address(lowered)
        except ValueError:
            return f"{name!r} is not an IPv4 address"
        return None
    if len(lowered) > 253 or not _HOST_NAME.fullmatch(lowered):
        return f"{name!r} is not a host name (letters, digits, hyphens and dots; no port, wildcard or trailing dot)"
    return None


def host_refusal(headers: Iterable[tuple[bytes, bytes]], allowed: Collection[str] = ()) -> str | None:
    """Why a request with these raw (ASGI) headers must be refused, or ``None`` when its ``Host`` is a loopback
    name or one of ``allowed`` (compared without letter case)."""
    hosts = [value for key, value in headers if key.lower() == b"host"]
    if len(hosts) != 1:
        return "the request has no Host header" if not hosts else "the request has several Host headers"
    value = hosts[0].decode("latin-1")
    name = split_host(value)
    if name is not None and (is_loopback_name(name) or name in {host.lower() for host in allowed}):
        return None
    shown = value if len(value) <= 100 else value[:100] + "..."
    return (
        f"Host {shown!r} is not a loopback name: the local Runtype answers only localhost, 127.0.0.0/8 and [::1] "
        "(add names with allowed_hosts / --allowed-host)"
    )
