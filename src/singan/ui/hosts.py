"""Which requests the web app answers: the Host and Origin rule, as ASGI middleware.

A page on another site must not drive the app. Browsers keep such a page off other origins, but
DNS rebinding (the attacker's name re-pointed at 127.0.0.1) makes the app look same-origin to
it; what still tells the two apart is the name the browser puts in the Host header. So the app
answers a request only when

- its Host names this app: 127.0.0.1, localhost, [::1], or the host it was launched on. An app
  listening on every address (`0.0.0.0` or `::`) also takes the machine's own names (hostname,
  FQDN, hostname.local) and any IP address: a rebinding page always has a DNS name, so an
  address in Host can only come from a client that reached this machine by that address;
- its Origin, when there is one, is `http://NAME:PORT` with an allowed NAME and the port the app
  is served on (Origin "null", another port or another name is a page elsewhere).

Everything else, including a request with no Host or with two of them, gets 403 and one line of
plain text before Gradio sees it: pages, the API, file serving, uploads and the queue's event
stream are HTTP; a websocket is closed before its handshake completes (also a 403).
Names compare case-insensitively and without a trailing dot, IP addresses in their normal form.
The port in Host is not compared (the name is what tells a rebinding page apart); the one in
Origin is, so reach the app through a forwarded port only under its own port number.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
EVERY_ADDRESS = ("0.0.0.0", "::", "")  # `launch(host=...)` values that listen everywhere
# host, [IPv6], with an optional port; no user info, path or anything else.
_HOST = re.compile(r"(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))"
                   r"(?::(?P<port>\d{1,5}))?")
_ORIGIN = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#]*)")


def _ip(name: str) -> str | None:
    """The normal form of an IP address, or None when `name` is not one."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return None


def normal_name(name: str) -> str:
    """A host name or address as the rule compares it ('[::1]' -> '::1', 'LocalHost.' ->
    'localhost')."""
    name = name.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.lower().rstrip(".")
    return _ip(name) or name


def split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port or None) of a Host header value, or None when it is malformed."""
    m = _HOST.fullmatch(value.strip())
    if m is None:
        return None
    name = m["ip6"] if m["ip6"] is not None else m["name"]
    if m["ip6"] is not None and _ip(name) is None:
        return None
    port = int(m["port"]) if m["port"] is not None else None
    if port is not None and not 0 < port < 65536:
        return None
    return normal_name(name), port


def machine_names() -> set[str]:
    """This machine's own names: hostname, fully qualified name, hostname.local (mDNS)."""
    names = set()
    try:
        host = socket.gethostname()
        names |= {host, f"{host}.local", socket.getfqdn()}
    except OSError:
        pass
    return {normal_name(n) for n in names if n}


@dataclass(frozen=True)
class HostRule:
    """The names a request may give in Host and Origin, and the port in Origin.

    names: allowed names (normal form); any_ip: whether every IP address is allowed too (an app
    listening on every address); port: the port the app is served on.
    """

    names: frozenset[str]
    port: int
    any_ip: bool = False

    @classmethod
    def for_server(cls, host: str, port: int) -> HostRule:
        """The rule of an app launched on `host` (what `launch(host=...)` binds) and `port`."""
        name = normal_name(host)
        names = set(LOOPBACK_NAMES)
        any_ip = name in EVERY_ADDRESS
        names |= machine_names() if any_ip else {name}
        return cls(frozenset(names), port, any_ip)

    def allows(self, name: str) -> bool:
        """Whether a (normal-form) host name or address names this app."""
        return name in self.names or (self.any_ip and _ip(name) is not None)

    def describe(self) -> str:
        """The allowed names in words, for the startup message."""
        names = ", ".join(sorted(f"[{n}]" if ":" in n else n for n in self.names))
        return names + (" and any IP address" if self.any_ip else "")

    def refusal(self, headers: Headers) -> str | None:
        """Why a request with these headers is refused, or None when it is answered."""
        hosts = headers.getlist("host")
        if len(hosts) != 1:
            return "a request must name its host exactly once"
        host = split_host(hosts[0])
        if host is None or not self.allows(host[0]):
            return "this app answers only requests to its own address (Host refused)"
        origins = headers.getlist("origin")
        if not origins:
            return None
        if len(origins) > 1 or not self.origin_ok(origins[0]):
            return "this app answers only its own pages (Origin refused)"
        return None

    def origin_ok(self, origin: str) -> bool:
        """Whether an Origin header names this app: http, an allowed name, the served port."""
        m = _ORIGIN.fullmatch(origin.strip())
        if m is None or m["scheme"].lower() != "http":
            return False
        host = split_host(m["host"])
        return host is not None and self.allows(host[0]) and (host[1] or 80) == self.port


class HostGuard:
    """ASGI middleware that refuses requests the `HostRule` does not allow (see the module
    docstring); other traffic (the lifespan) passes untouched."""

    def __init__(self, app, rule: HostRule):
        self.app, self.rule = app, rule

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = self.rule.refusal(Headers(scope=scope))
        if reason is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # the server answers 403
        else:
            await PlainTextResponse(f"403 Forbidden: {reason}\n", status_code=403)(
                scope, receive, send)
