"""Where a remote backend may send a person's mail, and with which key.

Plain http is fine on this machine (loopback) and refused anywhere else unless the config says
the network is trusted (`allow_http`): the mail text, and for OpenAI-compatible servers the API
key, would cross the network in clear. An API key goes only to the host it was configured for.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from core.errors import ConfigError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def is_loopback(url: str) -> bool:
    """True when the URL's host is this machine (127.0.0.0/8, ::1, localhost)."""
    host = host_of(url)
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, *, allow_http: bool, setting: str) -> None:
    """Refuse plain http to another machine unless `{setting}.allow_http` says it is meant."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"{setting}: {url!r} is not an http(s) URL; write it as https://HOST[:PORT]/...")
    if scheme == "http" and not is_loopback(url) and not allow_http:
        section = setting.split(".")[0]
        raise ConfigError(
            f"{setting} {url} is plain http to another machine: the mail (and any API key) would travel in clear; "
            f"use https, or set {section}.allow_http = true if that network is yours"
        )
