"""What keeps `pa serve` safe by default: where it binds, who may call it, how much it takes.

- It binds to loopback unless told otherwise; any other address needs an API key
  (`--api-key-env NAME`: the key is read from that variable, never from the command line),
  and a key, once configured, is required on every route and compared in constant time.
- A request body over `max_request_bytes` is refused (413) before it is parsed, and a
  `max_tokens` over `max_tokens_limit` is refused (400).
- At most `max_concurrent` requests are admitted at once; the next one gets 429 at once
  rather than a hidden wait. Admitted requests queue per local model (llama.cpp runs one
  generation per loaded model at a time) and run in parallel against remote M_L servers.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass

from core.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class ServeSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    """The key callers must send as `Authorization: Bearer KEY` (None: no key, loopback only)."""
    max_concurrent: int = 4
    max_request_bytes: int = 256_000
    max_tokens_limit: int = 2048
    log_texts: bool = False
    """Put intents, rules and texts into the request log (off: the log holds sizes and timings)."""
    shared_base: bool = False
    """Serve agents as LoRA adapters on one base model instead of one merged model each."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_api_key(env_name: str | None, host: str) -> str | None:
    """The key from the variable named by --api-key-env; UsageError when a bind needs one and has none."""
    if env_name:
        key = os.environ.get(env_name, "").strip()
        if not key:
            raise UsageError(
                f"--api-key-env {env_name}: that environment variable is empty or unset; export the key in it first"
            )
        if len(key) < 16:
            raise UsageError(
                f"--api-key-env {env_name}: the key is {len(key)} characters; use at least 16 random characters"
            )
        return key
    if not is_loopback(host):
        raise UsageError(
            f"--host {host} is reachable from other machines, so pa serve needs an API key there: "
            "put a long random key in an environment variable and pass its name with --api-key-env NAME"
        )
    return None


def key_matches(expected: str | None, authorization: str | None) -> bool:
    """Whether `Authorization: Bearer KEY` carries the expected key (constant-time compare)."""
    if expected is None:
        return True
    if not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[len("Bearer ") :].strip().encode("utf-8"), expected.encode("utf-8"))


class RequestGate:
    """Counts admitted requests; `enter()` is False when the limit is reached (then: 429)."""

    def __init__(self, limit: int):
        if limit < 1:
            raise UsageError(f"--max-concurrent must be at least 1, not {limit}")
        self.limit = limit
        self.active = 0

    def enter(self) -> bool:
        # Called from the event loop thread only: no lock needed between check and increment.
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1
