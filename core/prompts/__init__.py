"""Prompts are data: one TOML file per template, versioned, naming the fields it needs.

A template file looks like:

    id = "email.intent"
    version = 1
    fields = ["text", "subject"]
    system = '''You turn emails into ...'''
    user = '''<email>{{text}}</email> ...'''

`{{name}}` is replaced by the field's value; every declared field must be given and every
placeholder declared, so a typo fails loudly in tests rather than sending a broken prompt.
Untrusted text (corpus, intents, rules) is passed through `fence()` before it goes in.

A template may also guide the answer's shape, for backends that continue an answer pa starts
(`continues_answer`, the embedded model). Small models keep a format far better when it is
written for them than when it is only asked for:

    [[guide]]
    start = "<thinking>\n"        # written into the answer before the model continues
    stop = "</thinking>"           # the model's part ends here (the stop text is added back)
    [[guide]]
    start = "\n<rules>\n- "
    stop = "</rules>"

Every word inside the tags is still the model's; pa writes only the format around them.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from core.llm.base import Message

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TEMPLATES_DIR = Path(__file__).parent
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class GuideStep:
    start: str
    """Text pa writes into the answer before the model continues."""
    stop: str
    """Where the model's part of this step ends; it is written back into the answer."""


@dataclass(frozen=True)
class Template:
    id: str
    version: int
    fields: tuple[str, ...]
    system: str
    user: str
    guide: tuple[GuideStep, ...] = ()

    def render(self, **values: str | None) -> list[Message]:
        missing = [name for name in self.fields if name not in values]
        extra = [name for name in values if name not in self.fields]
        if missing or extra:
            raise ValueError(f"template {self.id}: missing fields {missing}, unexpected fields {extra}")
        text = {name: "" if value is None else str(value) for name, value in values.items()}
        messages = []
        if self.system.strip():
            messages.append(Message("system", _fill(self.system, text)))
        messages.append(Message("user", _fill(self.user, text)))
        return messages


def _fill(template: str, values: dict[str, str]) -> str:
    # One pass, so a value that itself contains "{{x}}" is never expanded.
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


@cache
def load_template(template_id: str) -> Template:
    """Load `email.intent` from `core/prompts/email/intent.toml`."""
    *folders, name = template_id.split(".")
    file = TEMPLATES_DIR.joinpath(*folders, f"{name}.toml")
    data = tomllib.loads(file.read_text(encoding="utf-8"))
    template = Template(
        id=data["id"],
        version=int(data["version"]),
        fields=tuple(data.get("fields", ())),
        system=data.get("system", ""),
        user=data["user"],
        guide=tuple(GuideStep(start=step["start"], stop=step["stop"]) for step in data.get("guide", ())),
    )
    if template.id != template_id:
        raise ValueError(f"{file}: id {template.id!r} does not match its path ({template_id!r})")
    used = set(PLACEHOLDER.findall(template.system + template.user))
    if used != set(template.fields):
        raise ValueError(f"{file}: placeholders {sorted(used)} differ from declared fields {sorted(template.fields)}")
    return template


def fence(text: str | None, tag: str) -> str:
    """Wrap untrusted text in <tag>…</tag>, neutralising any markup or chat-control marker inside it.

    Prompts tell the model that what is inside the tag is data to work on, never instructions;
    `core.fencing.neutralise` stops a corpus email from closing this fence or any other
    (`</EMAIL>`, `< /email >`, `</intent>`) and from writing a chat turn (`<|im_start|>`),
    whatever the case or spacing.
    """
    from core.fencing import neutralise

    return f"<{tag}>\n{neutralise(text or '')}\n</{tag}>"
