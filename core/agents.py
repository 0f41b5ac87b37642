"""Trained preference agents on disk: which exist, which is the latest, and where its GGUF is.

Light on purpose (no torch, no llama_cpp): drafting, the TUI and the CLI ask "is there an
agent for this profile?" without paying for a model import. The layout is

    paths.agents_dir(profile)/<kind>/v<N>/manifest.json   (written last: a folder without it
                                                           is an export that did not finish)
    paths.agents_dir(profile)/<kind>/v<N>/<file>.gguf     (named by manifest["gguf"])
    paths.agents_dir(profile)/<kind>/current              (`v<N>`: the version drafts use; no
                                                           file, or a version gone: the newest)

Every export becomes the current version; `pa agents use N` picks an older one (rollback) or
a newer one again. The versions themselves are never overwritten.

Kinds: "agent" (intent -> rules), "naive" (intent -> text, the naive fine-tune baseline),
"no-baseline" (intent -> rules distilled without a zero-shot draft).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import NotTrainedError, UsageError
from core.llm.base import Message
from core.paths import Paths
from core.store import validate_profile_name

KINDS = ("agent", "naive", "no-baseline")
TEMPLATES = {"agent": "agent.rules", "no-baseline": "agent.rules", "naive": "agent.naive"}
"""The prompt each kind is trained on and asked with (core/prompts/agent/*.toml)."""
ASPECTS = {
    "email": "tone, length, greeting, sign-off, structure, phrasing",
    "post": "tone, length, opening, headings, structure, phrasing",
    "review": "tone, length, verdict, structure, phrasing",
}
"""What a rule agent's rules are about, per genre: only e-mails have a greeting and a sign-off."""
MANIFEST = "manifest.json"
CURRENT_FILE = "current"
_VERSION_DIR = re.compile(r"^v(\d+)$")


@dataclass(frozen=True)
class AgentInfo:
    profile: str
    kind: str
    version: int
    folder: Path
    gguf: Path
    """The quantized model file that backends load."""
    manifest: dict[str, Any] = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        """`profile/kind/vN`: how drafts and reports name the agent they used."""
        return f"{self.profile}/{self.kind}/v{self.version}"

    @property
    def quant(self) -> str | None:
        return self.manifest.get("quant")

    @property
    def lora_gguf(self) -> Path | None:
        """The optional LoRA-adapter GGUF for the base model, when the export wrote one."""
        name = self.manifest.get("lora_gguf")
        return self.folder / name if name else None


def validate_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"agent kind {kind!r} is not one of {', '.join(KINDS)}")
    return kind


def kind_dir(paths: Paths, profile: str, kind: str) -> Path:
    return paths.agents_dir(validate_profile_name(profile)) / validate_kind(kind)


def next_version_dir(paths: Paths, profile: str, kind: str) -> Path:
    """The folder the next export of this kind writes to (v1, v2, ...; never reuses a number)."""
    base = kind_dir(paths, profile, kind)
    numbers = [int(m.group(1)) for m in (_VERSION_DIR.match(p.name) for p in _children(base)) if m]
    return base / f"v{max(numbers, default=0) + 1}"


def read_agent(folder: Path, profile: str, kind: str) -> AgentInfo | None:
    """The agent in `folder`, or None when the export is incomplete (no manifest, no GGUF)."""
    match = _VERSION_DIR.match(folder.name)
    manifest_file = folder / MANIFEST
    if not match or not manifest_file.is_file():
        return None
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("gguf"), str):
        return None
    gguf = folder / manifest["gguf"]
    if not gguf.is_file():
        return None
    return AgentInfo(profile, kind, int(match.group(1)), folder, gguf, manifest)


def list_agents(paths: Paths, profile: str, kind: str | None = None) -> list[AgentInfo]:
    """Complete agents of a profile (all kinds, or one), ordered by kind then version."""
    kinds = (validate_kind(kind),) if kind else KINDS
    agents: list[AgentInfo] = []
    for each in kinds:
        found = (read_agent(folder, profile, each) for folder in _children(kind_dir(paths, profile, each)))
        agents.extend(sorted((a for a in found if a), key=lambda a: a.version))
    return agents


def newest_agent(paths: Paths, profile: str, kind: str = "agent") -> AgentInfo | None:
    """The highest complete version, whichever is current."""
    agents = list_agents(paths, profile, kind)
    return agents[-1] if agents else None


def latest_agent(paths: Paths, profile: str, kind: str = "agent") -> AgentInfo | None:
    """The agent drafts use: the version `pa agents use` chose, else the newest one."""
    agents = list_agents(paths, profile, kind)
    chosen = current_version(paths, profile, kind)
    return next((a for a in agents if a.version == chosen), agents[-1] if agents else None)


def current_version(paths: Paths, profile: str, kind: str = "agent") -> int | None:
    """The version named in `<kind>/current`, or None when no choice was recorded (or it is unreadable)."""
    try:
        text = (kind_dir(paths, profile, kind) / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    match = _VERSION_DIR.match(text)
    return int(match.group(1)) if match else None


def parse_version(text: str | int) -> int:
    """`3`, `v3` or `V3` -> 3; anything else is a UsageError saying the form."""
    match = re.fullmatch(r"[vV]?(\d+)", str(text).strip())
    if not match or int(match.group(1)) < 1:
        raise UsageError(f"agent version {text!r} is not a version number like 2 or v2")
    return int(match.group(1))


def use_agent(paths: Paths, profile: str, version: str | int, kind: str = "agent") -> AgentInfo:
    """Make `version` the agent drafts use (rollback or forward); the other versions stay as they are."""
    from core.atomic import write_text_atomic

    number = parse_version(version)
    agents = list_agents(paths, profile, kind)
    chosen = next((a for a in agents if a.version == number), None)
    if chosen is None:
        have = ", ".join(f"v{a.version}" for a in agents) or "none"
        raise UsageError(
            f"profile {profile!r} has no complete {kind} v{number} (versions: {have}); see `pa agents list --profile {profile}`"
        )
    write_text_atomic(kind_dir(paths, profile, kind) / CURRENT_FILE, f"v{number}\n")
    return chosen


def require_agent(paths: Paths, profile: str, kind: str = "agent") -> AgentInfo:
    """The current agent (`latest_agent`), or NotTrainedError naming the command that trains it."""
    agent = latest_agent(paths, profile, kind)
    if agent is None:
        raise NotTrainedError(
            f"profile {profile!r} has no trained {kind} model yet; train it with "
            f"`pa train --profile {profile} --kind {kind}`"
        )
    return agent


def _children(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


# -- the agent's prompt and answer: identical at training time and at inference -------------


def agent_messages(
    kind: str,
    intent: str,
    *,
    recipient: str | None = None,
    subject: str | None = None,
    previous: str | None = None,
    genre: str = "email",
) -> list[Message]:
    """The chat an agent of `kind` is trained on and must be asked with (system + user).

    Backends apply the model's own chat template (copied into the agent GGUF from the base),
    so training and inference see the very same tokens. This is the one input form: the message
    replied to is cut here, by one window (`core.context_window.AGENT_PREVIOUS_CHARS`, its newest
    part), for training examples, `pa draft`, `pa compare`, `pa eval` and the TUI alike.
    """
    from core.context_window import AGENT_PREVIOUS_CHARS, previous_window
    from core.prompts import fence, load_template

    previous = previous_window(previous, AGENT_PREVIOUS_CHARS)

    lines = [fence(intent.strip(), "intent")]
    if recipient:
        lines.append(f"To: {recipient.strip()}")
    if subject:
        lines.append(f"Subject: {subject.strip()}")
    if previous and previous.strip():
        lines.append("Replying to:\n" + fence(previous.strip(), "previous"))
    template = load_template(TEMPLATES[validate_kind(kind)])
    values = {"genre": genre, "details": "\n".join(lines)}
    if "aspects" in template.fields:
        values["aspects"] = ASPECTS.get(genre, ASPECTS["email"])
    if "article" in template.fields:
        values["article"] = "an" if genre[:1].lower() in "aeiou" else "a"
    return template.render(**values)


def template_version(kind: str) -> str:
    """`agent.rules@2`: recorded in the manifest, so drafting can tell a stale agent."""
    from core.prompts import load_template

    template = load_template(TEMPLATES[validate_kind(kind)])
    return f"{template.id}@{template.version}"


def format_rules_target(rules: str, thinking: str | None = None) -> str:
    """What an agent learns to answer: an optional <thinking> part, then the <rules>."""
    parts = []
    if thinking and thinking.strip():
        parts.append(f"<thinking>\n{thinking.strip()}\n</thinking>")
    parts.append(f"<rules>\n{rules.strip()}\n</rules>")
    return "\n".join(parts)


def split_agent_output(text: str) -> tuple[str | None, str]:
    """(thinking, rules) from an agent's answer; tolerant of a missing closing tag (max_tokens)."""
    thinking = None
    rest = text
    start = rest.find("<thinking>")
    if start != -1:
        end = rest.find("</thinking>", start)
        thinking = rest[start + len("<thinking>") : end if end != -1 else len(rest)].strip()
        rest = rest[end + len("</thinking>") :] if end != -1 else ""
    start = rest.find("<rules>")
    if start != -1:
        end = rest.find("</rules>", start)
        rest = rest[start + len("<rules>") : end if end != -1 else len(rest)]
    return thinking, rest.strip()
