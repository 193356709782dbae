"""Where the portal may connect on a tenant's behalf: the egress rule for Kubernetes API servers.

A tenant types the API server URL of their cluster; the portal then connects there with its own
network position. Without a rule that is server-side request forgery: `http://127.0.0.1:8000/`,
a cloud metadata address (169.254.169.254) or any host of the portal's private network.

The rule (docs/security.md, "Cluster egress"):

- https only; plain http only to a loopback address the operator allow-listed (a test double, a
  local `kubectl proxy`); no credentials, query or fragment in the URL;
- every address the host resolves to must be global (not loopback, link-local, private, shared,
  reserved, multicast, unspecified; IPv4-mapped IPv6 judged as IPv4), unless it is in an
  allow-listed network or the host name itself is allow-listed;
- checked when the cluster is saved (early, clear 400) and again for every connection, on the
  address actually connected to (`pick_address`), so a name that later resolves elsewhere (DNS
  rebinding) is refused too.

Django-free: `deploy.services.clusters.egress_policy()` builds it from settings.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = ["EgressPolicy", "EgressRefused"]

# LDH labels of 1..63 characters, optionally a trailing dot (urllib3 keeps it for resolution).
_HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


class EgressRefused(ValueError):
    """The destination is not one the portal may connect to for a tenant. A sentence, no secrets."""


def _normalised(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class EgressPolicy:
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> EgressPolicy:
        """From the operator's allow-list: CIDR networks, single addresses, or exact host names."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = str(raw).strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    # -- addresses ---------------------------------------------------------------------------------

    def address_allowed(self, host: str, ip: IPAddress) -> bool:
        ip = _normalised(ip)
        if host.lower().rstrip(".") in self.hosts or any(ip in net for net in self.networks):
            return True
        return ip.is_global and not ip.is_multicast and not ip.is_unspecified

    def _allow_listed(self, host: str, ip: IPAddress) -> bool:
        ip = _normalised(ip)
        return host.lower().rstrip(".") in self.hosts or any(ip in net for net in self.networks)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to (a literal is itself). Raises EgressRefused."""
        literal = host.strip("[]")
        try:
            return [ipaddress.ip_address(literal)]
        except ValueError:
            pass
        if not _HOSTNAME.match(host) or len(host) > 253:
            raise EgressRefused(f"{host!r} is not a valid host name")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError, OverflowError) as exc:
            raise EgressRefused(f"the host {host!r} does not resolve ({type(exc).__name__})") from None
        out: list[IPAddress] = []
        for info in infos:
            addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if addr not in out:
                out.append(addr)
        if not out:
            raise EgressRefused(f"the host {host!r} does not resolve")
        return out

    def pick_address(self, host: str, port: int, *, scheme: str = "https") -> str:
        """Resolve ``host`` now and return the address to connect to, every address checked.

        Called for each new connection: the caller connects to the returned address (keeping
        ``host`` for TLS and the Host header), so what was checked is what is connected to.
        """
        addresses = self.resolve(host, port)
        for ip in addresses:
            if not self.address_allowed(host, ip):
                raise EgressRefused(
                    f"refusing to connect to {host}: it resolves to {_normalised(ip)}, a non-public address; "
                    "the platform operator can allow-list it (DEPLOY_KUBE_EGRESS_ALLOW)"
                )
            if scheme == "http" and not (_normalised(ip).is_loopback and self._allow_listed(host, ip)):
                raise EgressRefused(f"refusing plain http:// to {host}: use https://")
        return str(addresses[0])

    # -- URLs --------------------------------------------------------------------------------------

    def check_url(self, url: str, *, resolve: bool = True) -> str:
        """The URL (stripped of a trailing "/") if the portal may use it as an API server; else
        EgressRefused with the reason. With ``resolve``, a host that resolves is checked now; one
        that does not resolve yet is left to the connection-time check."""
        url = (url or "").strip()
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise EgressRefused(f"{url!r} is not a valid URL (bad host or port)") from None
        if parts.scheme not in ("https", "http"):
            raise EgressRefused(f"{url!r}: the API server URL must start with https://")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise EgressRefused(f"{url!r}: credentials do not belong in the URL; use the token field")
        if parts.query or parts.fragment or "?" in url or "#" in url:
            raise EgressRefused(f"{url!r}: the API server URL takes no query or fragment")
        host = parts.hostname or ""
        if not host or any(c.isspace() for c in url):
            raise EgressRefused(f"{url!r}: the URL names no host")
        if (":" not in host and not _HOSTNAME.match(host)) or len(host) > 253:
            raise EgressRefused(f"{url!r}: {host!r} is not a valid host name")
        if port == 0:
            raise EgressRefused(f"{url!r}: port 0 is not a port")
        port = port or (443 if parts.scheme == "https" else 80)
        literal = True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            literal = False
        if literal or resolve:
            try:
                self.pick_address(host, port, scheme=parts.scheme)
            except EgressRefused as exc:
                if literal or "does not resolve" not in str(exc):
                    raise
                if parts.scheme == "http":
                    raise EgressRefused(f"refusing plain http:// to {host}: use https://") from None
        elif parts.scheme == "http":
            raise EgressRefused(f"refusing plain http:// to {host}: use https://")
        return url.rstrip("/")
