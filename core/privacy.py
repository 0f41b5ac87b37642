"""Where a person's text goes, and what leaves this machine.

- `destination(spec, config)`: per model spec, where prompts are sent: this process
  (llama.cpp), a server on this machine (loopback), or another machine. `pa doctor` shows it
  per role.
- `privacy.local_only = true`: any backend that would send text to another machine is refused,
  for every role, before anything is sent.
- `privacy.redact = true`: before a call to another machine, contact details (e-mail addresses,
  phone numbers, URLs, and the names in the corpus's own From/To/Cc headers) are replaced by
  stable placeholders (`[EMAIL_1]`, `[NAME_2]`: the same value gets the same placeholder for
  the whole run), and the answer has them restored as it streams. What pa stores is the
  restored text; what the remote model saw is the placeholders.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import ConfigError
from core.llm.base import Chunk, GenerationOptions, Message

if TYPE_CHECKING:
    from core.config import Config


class SpecLike(Protocol):
    """What this module reads of a `core.llm.specs.ModelSpec` (not imported: specs calls `guard`)."""

    @property
    def kind(self) -> str: ...

    @property
    def is_local(self) -> bool: ...


@dataclass(frozen=True)
class Destination:
    where: str
    """Where prompts go, for people: `this process (llama.cpp)`, a URL with `(this machine)`..."""
    local: bool
    """True when no text leaves this machine."""
    redacted: bool = False
    """True when contact details are replaced before sending (privacy.redact, remote only)."""

    def describe(self) -> str:
        if self.local:
            return self.where
        return f"{self.where}, contact details {'redacted' if self.redacted else 'sent as they are'}"


def destination(spec: SpecLike, config: Config) -> Destination:
    """Where a backend for `spec` would send the text it is given."""
    from core.llm.transport import is_loopback

    if spec.is_local:
        return Destination("this process (llama.cpp)", True)
    if spec.kind == "ollama":
        from core.llm.ollama_backend import resolve_host

        url = resolve_host(config.ollama.host)
    else:
        url = config.openai.base_url
    if is_loopback(url):
        return Destination(f"{url} (this machine)", True)
    return Destination(f"{url} (another machine)", False, redacted=config.privacy.redact)


def guard(spec: SpecLike, config: Config, backend: Any) -> Any:
    """The backend as privacy settings allow it: refused (local_only) or wrapped (redact)."""
    where = destination(spec, config)
    if where.local:
        return backend
    if config.privacy.local_only:
        raise ConfigError(
            f"privacy.local_only is set, and {spec} would send text to {where.where}; use embedded, gguf:PATH "
            "or a server on this machine, or turn privacy.local_only off"
        )
    if config.privacy.redact:
        return RedactingBackend(backend)
    return backend


# -- redaction ------------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]")
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{5,}\d(?![\w.])")
_DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{1,2}:\d{2}")
_HEADER = re.compile(r"(?im)^\s*(?:from|to|cc|bcc|reply-to)\s*:\s*(.+)$")
_DISPLAY_NAME = re.compile(r"\"?([A-Z][\w'.-]+(?: [A-Z][\w'.-]+){0,3})\"?[ \t]*<[^<>@\s]+@")
_PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|URL|NAME)_(\d+)\]")
_PARTIAL = re.compile(r"\[[A-Z_0-9]{0,12}$")
_NOT_NAMES = {
    "The",
    "Team",
    "Dear",
    "And",
    "For",
    "From",
    "Group",
    "Office",
    "Support",
    "Info",
    "Sales",
    "Admin",
    "Mrs",
    "Inc",
    "Ltd",
}


class Redactor:
    """Replaces contact details with placeholders and puts them back; one per backend (stable)."""

    def __init__(self) -> None:
        self.placeholders: dict[str, str] = {}  # value -> placeholder
        self.values: dict[str, str] = {}  # placeholder -> value
        self.counts: dict[str, int] = {}
        self.names: set[str] = set()
        """Every name met in a header so far: redacted in later calls too, wherever it appears."""

    def _placeholder(self, kind: str, value: str) -> str:
        if value not in self.placeholders:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            placeholder = f"[{kind}_{self.counts[kind]}]"
            self.placeholders[value] = placeholder
            self.values[placeholder] = value
        return self.placeholders[value]

    def names_in(self, text: str) -> list[str]:
        """Display names from header lines (From/To/Cc) and `Name <address>` forms, with their parts."""
        found: set[str] = set()
        for line in _HEADER.findall(text):
            for person in re.split(r"[;,](?![^<]*>)", line):
                name = re.sub(r"<[^>]*>|\[[A-Z]+_\d+\]|[\"']", " ", person)
                name = _EMAIL.sub(" ", name).strip(" ,")
                if re.fullmatch(r"[A-Z][\w'.-]+(?: [A-Z][\w'.-]+){0,3}", name):
                    found.add(name)
        found.update(match.strip() for match in _DISPLAY_NAME.findall(text))
        parts = {part for name in found for part in name.split() if len(part) >= 3 and part not in _NOT_NAMES}
        return sorted(found | parts, key=len, reverse=True)  # longest first: "Ann Lee" before "Ann"

    def redact(self, text: str) -> str:
        self.names.update(self.names_in(text))
        text = _EMAIL.sub(lambda m: self._placeholder("EMAIL", m.group(0)), text)
        text = _URL.sub(lambda m: self._placeholder("URL", m.group(0)), text)
        text = _PHONE.sub(self._phone, text)
        for name in sorted(self.names, key=len, reverse=True):  # "Ann Lee" before "Ann"
            text = re.sub(rf"(?<![\w\[]){re.escape(name)}(?!\w)", lambda m: self._placeholder("NAME", m.group(0)), text)
        return text

    def _phone(self, match: re.Match[str]) -> str:
        value = match.group(0)
        digits = sum(ch.isdigit() for ch in value)
        if not 7 <= digits <= 15 or _DATE_LIKE.fullmatch(value.strip()):
            return value
        return self._placeholder("PHONE", value)

    def restore(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.values.get(m.group(0), m.group(0)), text)


class RedactingBackend:
    """A remote backend that never sees the contact details in what it is sent."""

    def __init__(self, inner: Any, redactor: Redactor | None = None):
        self.inner = inner
        self.redactor = redactor or Redactor()
        self.spec = inner.spec
        self.price = getattr(inner, "price", None)

    def __getattr__(self, name: str) -> Any:  # list_models, check_model, base_url...
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"RedactingBackend({self.inner!r})"

    async def stream(
        self, messages: Sequence[Message], options: GenerationOptions = GenerationOptions()
    ) -> AsyncIterator[Chunk]:
        sent = [Message(m.role, self.redactor.redact(m.content)) for m in messages]
        held = ""
        async for chunk in self.inner.stream(sent, options):
            held += chunk.text
            if chunk.usage is not None:
                yield Chunk(self.redactor.restore(held), usage=chunk.usage, finish_reason=chunk.finish_reason)
                return
            # Hold back a tail that may be the start of a placeholder split across chunks.
            partial = _PARTIAL.search(held)
            cut = partial.start() if partial else len(held)
            ready, held = held[:cut], held[cut:]
            if ready:
                yield Chunk(self.redactor.restore(ready))
        if held:
            yield Chunk(self.redactor.restore(held))
