"""Keep a person's text inert inside a prompt: it may never close a fence or open a chat turn.

Two defences, at two depths:

- `neutralise(text)` rewrites every tag-shaped marker (`</email>`, `< /EMAIL >`, `<rules>`)
  and every chat-control marker (`<|im_end|>`, `<|eot_id|>`, `<｜end▁of▁sentence｜>`,
  `[INST]`) in untrusted text so that it reads the same to a person but is no longer markup:
  its angle brackets become `‹ ›` and its bars `¦`. Case and whitespace do not matter.
  It is applied to every fenced value (`core.prompts.fence`); `neutralise_control` does the
  chat-control half to whole messages for remote backends, whose server tokenises the prompt
  itself (OpenAI-compatible, Ollama).
- `split_rendered` cuts a prompt rendered by a chat template into the template's own parts
  and the data parts, so a tokenizer can parse special tokens in the former only
  (`core.llm.embedded`, `finetune.dataset`): corpus text then never becomes a control token id,
  whatever it contains.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import BackendError

# `<tag>`, `</tag>`, `< / Tag >`, `<tag attr="x">`, `<tag/>`: a name of word characters, never
# an address (`<ann@x.com>`) or a link (`<https://x>`), which the name pattern cannot swallow;
# attributes only with an `=`, so prose like `a < b and c > d` stays as it is.
_TAG = re.compile(r"<(\s*/?\s*[A-Za-z_][\w.-]*(?:\s+[^<>=]*=[^<>]*)?\s*/?\s*)>")
# Chat-control tokens: ChatML / Llama 3 (`<|...|>`), DeepSeek (full-width bars), Mistral (`[INST]`).
_BARS = re.compile(r"<\s*([|｜])([^<>\n]{0,64}?)([|｜])\s*>")
_BRACKETS = re.compile(
    r"\[\s*(/?\s*(?:INST|SYS|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\s*)\]", re.IGNORECASE
)


def neutralise(text: str) -> str:
    """The text with every markup or chat-control marker made plain text (idempotent)."""
    text = _BARS.sub(lambda m: f"‹¦{m.group(2)}¦›", text)
    text = _TAG.sub(lambda m: f"‹{m.group(1)}›", text)
    return _BRACKETS.sub(lambda m: f"⁅{m.group(1)}⁆", text)


def neutralise_control(text: str) -> str:
    """Only the chat-control markers made plain text; pa's own fences (`<email>`) stay.

    For whole messages sent to a server that applies the chat template and tokenises the
    prompt itself (OpenAI-compatible, Ollama): pa's templates hold no control marker, so
    any that is there came from data, fenced or not (a subject line, a recipient).
    """
    text = _BARS.sub(lambda m: f"‹¦{m.group(2)}¦›", text)
    return _BRACKETS.sub(lambda m: f"⁅{m.group(1)}⁆", text)


def has_markup(text: str) -> bool:
    """True when `neutralise` would change the text (a tag or a chat-control marker in it)."""
    return neutralise(text) != text


@dataclass(frozen=True)
class Segment:
    text: str
    is_data: bool
    """True for a message's content (tokenise as plain text), False for the template's own text."""


def data_markers(contents: Sequence[str]) -> list[str]:
    """One marker per message, standing in for its content while the template is rendered.

    Private-use characters around a random nonce: no content can contain them by accident,
    and a content that contains this very nonce is impossible to forge (it is fresh per call).
    """
    nonce = secrets.token_hex(8)
    return [f"\ue000{nonce}:{index}\ue001" for index in range(len(contents))]


def split_rendered(rendered: str, markers: Sequence[str], contents: Sequence[str]) -> list[Segment]:
    """The rendered prompt as template and data segments, the markers replaced by the contents.

    Every marker must appear exactly once, in order: a chat template that rewrote a message's
    content (rather than placing it) would otherwise mix data into the template's text.
    """
    segments: list[Segment] = []
    position = 0
    for marker, content in zip(markers, contents, strict=True):
        found = rendered.find(marker, position)
        if found == -1 or rendered.find(marker, found + len(marker)) != -1:
            raise BackendError(
                "the model's chat template does not place each message's text once and unchanged, so pa cannot "
                "keep the text apart from control tokens; use a model with a standard chat template"
            )
        segments.append(Segment(rendered[position:found], False))
        segments.append(Segment(content, True))
        position = found + len(marker)
    segments.append(Segment(rendered[position:], False))
    return [segment for segment in segments if segment.text]
