"""Reading tagged model answers (`<thinking>…</thinking><rules>…</rules>`) without trusting them.

Models, small ones above all, break the format in every way: they forget a tag, never close
one, close one they never opened, nest a block inside another, swap the order, wrap it all
in a Markdown fence, or add chatter around it. `find_tag` copes with those cases and says
how sure it is; the `parse_*` functions then check that what was found is usable for its
stage (bullets for an intent, a stated length and no reference to the texts compared for
rules) and return either `Parsed` or `Rejected` with a one-line reason that is stored and
shown to the model on a retry.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

from core.style.text_facts import find_closing, find_greeting

# Every tag the distillation prompts ask for; text is split on these (and only these).
ANSWER_TAGS = ("scratchpad", "thinking", "intent", "draft", "rules")


@dataclass(frozen=True)
class TagBlock:
    """The text found for a tag and how it was delimited."""

    text: str
    opened: bool = True
    """False when only the closing tag was there (the block starts after the previous tag)."""
    closed: bool = True
    """False when the tag was never closed (the block runs to the next tag or the end)."""
    nested_in: str | None = None
    """The tag this block sat inside, if any (e.g. rules written inside <thinking>)."""


@dataclass(frozen=True)
class Parsed:
    content: str
    thinking: str | None = None
    notes: tuple[str, ...] = ()
    """What pa changed in the model's answer before accepting it (dropped rules, an added length)."""


@dataclass(frozen=True)
class Rejected:
    reason: str


ParseResult = Parsed | Rejected


def _tag_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(name) for name in names)
    # <rules>, < Rules >, </rules>, </ rules>, <rules class="x">, <rules/> (treated as open).
    return re.compile(rf"<\s*(/)?\s*({alternatives})\b[^<>\n]*?/?\s*>", re.IGNORECASE)


@dataclass
class _Span:
    name: str
    start: int  # where the content starts
    end: int  # where the content ends
    opened: bool
    closed: bool
    parent: str | None
    inner: list[tuple[int, int]]  # ranges of other tags' blocks inside, cut from the text


def _spans(text: str, names: tuple[str, ...]) -> list[_Span]:
    """All tag blocks in `text`, matched with a stack so nesting and missing ends are seen."""
    tokens = list(_tag_pattern(names).finditer(text))
    spans: list[_Span] = []
    stack: list[tuple[str, int, int]] = []  # (name, content start, position of the open token)
    boundary = 0  # end of the last token seen at top level: where an unopened block starts

    def close(until: int, token_start: int, closed: bool) -> None:
        name, start, open_at = stack.pop()
        parent = stack[-1][0] if stack else None
        spans.append(_Span(name, start, token_start, True, closed, parent, []))
        if parent is None:
            nonlocal boundary
            boundary = until

    for token in tokens:
        is_close, name = token.group(1) is not None, token.group(2).lower()
        if not is_close:
            stack.append((name, token.end(), token.start()))
            continue
        open_names = [entry[0] for entry in stack]
        if name in open_names:
            # Blocks opened after this one and never closed end here too.
            while stack[-1][0] != name:
                close(token.start(), token.start(), False)
            close(token.end(), token.start(), True)
        else:
            parent = stack[-1][0] if stack else None
            start = stack[-1][1] if stack else boundary
            spans.append(_Span(name, start, token.start(), False, True, parent, []))
            if not stack:
                boundary = token.end()
    while stack:
        close(len(text), len(text), False)
    # Record, for each block, the blocks of other tags inside it, so they can be cut out.
    for outer in spans:
        for inner in spans:
            if (
                inner is not outer
                and inner.name != outer.name
                and outer.start <= inner.start
                and inner.end <= outer.end
            ):
                outer.inner.append((inner.start, inner.end))
    return spans


def _content(text: str, span: _Span, names: tuple[str, ...]) -> str:
    pieces, cursor = [], span.start
    for start, end in sorted(span.inner):
        if start >= cursor:
            pieces.append(text[cursor:start])
            cursor = end
    pieces.append(text[cursor : span.end])
    body = "".join(pieces)
    body = _tag_pattern(names).sub("", body)  # leftover tokens, e.g. a doubled <rules><rules>
    return _clean(body)


_FENCE_LINE = re.compile(r"^\s*(```+|~~~+)[\w-]*\s*$")
_STRAY_MARKUP = re.compile(r"^\s*(\*\*|__)\s*$")


def _clean(body: str) -> str:
    lines = [line.rstrip() for line in body.strip().splitlines()]
    lines = [line for line in lines if not _FENCE_LINE.match(line) and not _STRAY_MARKUP.match(line)]
    return "\n".join(lines).strip()


def find_tag(text: str, tag: str, *, known: tuple[str, ...] = ANSWER_TAGS) -> TagBlock | None:
    """The best block for `tag` in a model answer, or None when there is none with text.

    Preference: a block opened and closed, outside other blocks, and the last such one (models
    often echo an empty or example block before the real one). `known` are the tags that
    delimit blocks; any of them ends an unclosed block.
    """
    tag = tag.lower()
    names = tuple(dict.fromkeys((*known, tag)))
    if "&lt;" in text and not _tag_pattern(names).search(text):
        text = html.unescape(text)
    candidates = []
    for order, span in enumerate(_spans(text, names)):
        if span.name != tag:
            continue
        body = _content(text, span, names)
        if not body:
            continue
        rank = (span.opened and span.closed, span.parent is None, order)
        candidates.append((rank, TagBlock(body, span.opened, span.closed, span.parent)))
    if not candidates:
        return None
    return max(candidates, key=lambda item: item[0])[1]


def _outside_tags(text: str, known: tuple[str, ...]) -> str:
    """The answer with every tagged block (and any stray tag) cut out, one line break in its place."""
    if "&lt;" in text and not _tag_pattern(known).search(text):
        text = html.unescape(text)
    kept, cursor = [], 0
    for start, end in sorted((span.start, span.end) for span in _spans(text, known)):
        if start >= cursor:
            kept.append(text[cursor:start])
        cursor = max(cursor, end)
    kept.append(text[cursor:])
    return _tag_pattern(known).sub("\n", "".join(kept))


def untagged_bullets(text: str, *, known: tuple[str, ...] = ANSWER_TAGS) -> TagBlock | None:
    """The bullet lines outside every tagged block, for an answer that forgot one tag.

    "<thinking>…</thinking>\n- rule\n- rule" is a common near miss: the list is plainly the
    answer. Only bullet lines count, so chatter around them is not taken for content.
    """
    outside = _outside_tags(text, known)
    lines = [
        line.strip()
        for line in outside.splitlines()
        if _BULLET.match(line) and not _PLACEHOLDER.match(line.strip().lstrip("-*•0123456789.) ").strip())
    ]
    return TagBlock("\n".join(lines), opened=False, closed=False) if lines else None


def extract_tag(text: str, tag: str, *, known: tuple[str, ...] = ANSWER_TAGS) -> str | None:
    """Just the text of `find_tag`, for callers that do not care how the block was delimited."""
    block = find_tag(text, tag, known=known)
    return block.text if block else None


# -- stage validation ------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•·‣▪–]|\d{1,2}[.)]|\(\d{1,2}\))\s+(.*\S)\s*$")
MAX_BULLET_WORDS = 60
# "- 1. Write briefly": small models number the points after the dash they were given.
_NESTED_NUMBER = re.compile(r"^(?:\d{1,2}[.)]|\(\d{1,2}\))\s+")
MAX_BULLETS = 40


# "(first point)", "...", "[rule]": the format example echoed back instead of an answer.
_PLACEHOLDER = re.compile(r"^(?:\(\s*[^()]{0,40}\)|\[\s*[^\[\]]{0,40}\]|\.{2,}|…)$")


def bullets(text: str) -> list[str]:
    """The bullet points in `text` (-, *, •, 1., 1) …), without their markers or placeholders."""
    points = [
        _NESTED_NUMBER.sub("", match.group(1)).strip() for line in text.splitlines() if (match := _BULLET.match(line))
    ]
    return [point for point in points if not _PLACEHOLDER.match(point)]


def is_placeholder(text: str) -> bool:
    return all(_PLACEHOLDER.match(line.strip().lstrip("-*• ").strip()) for line in text.splitlines() if line.strip())


def _cut_off(block: TagBlock, finish_reason: str | None, tag: str) -> Rejected | None:
    if not block.closed and finish_reason == "length":
        where = f"inside <{tag}>" if block.opened else f"in its {tag} (no <{tag}> tags)"
        return Rejected(f"the answer was cut off {where} (max_tokens reached)")
    return None


def _missing(tag: str, raw: str, *, bullets_allowed: bool = True) -> Rejected:
    if not raw.strip():
        return Rejected("empty answer")
    also = " (and no bullet list outside other tags)" if bullets_allowed else ""
    return Rejected(f"no <{tag}> block with text in the answer{also}")


def copies_source(answer: str, source: str | None) -> bool:
    """True when an answer mostly repeats `source` word for word (the email echoed, not noted).

    Measured as the share of the source's word triples found in the answer; short sources are
    exempt, since their notes can fairly reuse most of their words.
    """
    if not source:
        return False
    words = re.findall(r"\w+", source.lower())
    if len(words) < 15:
        return False
    triples = {tuple(words[i : i + 3]) for i in range(len(words) - 2)}
    said = re.findall(r"\w+", answer.lower())
    found = {tuple(said[i : i + 3]) for i in range(len(said) - 2)}
    return len(triples & found) >= 0.8 * len(triples)


# In notes written as plain lines: an echoed header ("Subject: …") or a lone "Hi Matt," is style, not content.
_HEADER_OR_SALUTATION = re.compile(
    r"^\s*(?:(?:from|to|cc|subject|date)\s*:.*|(?:\w+\s+){0,3}\w+[,!]|[^\w]*)\s*$", re.IGNORECASE
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_PROMPT_FENCES = re.compile(r"<\s*/?\s*(?:metadata|email|post|review|previous_message)\s*>", re.IGNORECASE)
PROMPT_BLOCKS = ("metadata", "previous_message")
"""Fences around the prompt's data; small models often copy them back before answering."""
TEXT_TAGS = ("email", "post", "review")
"""The fence of the real text in intent and rules prompts; in a draft answer, the model's own wrapper."""
_ECHO_NOTE = "the answer's copies of the prompt's fenced blocks were left out"


def _echoes_prompt(raw: str, tags: tuple[str, ...]) -> bool:
    return bool(re.search(rf"<\s*(?:{'|'.join(tags)})\s*>", raw, re.IGNORECASE))


def parse_intent(raw: str, finish_reason: str | None = "stop", *, source: str | None = None) -> ParseResult:
    """An intent: short first-person points, bullets inside <intent> (after an optional <scratchpad>).

    Lenient on form: a bullet list outside the tags, or lines of plain text inside <intent>
    (or, with no tags and no bullets, the whole answer minus its chatter) are taken as the
    points, one per line. Rejected: empty, cut off, placeholders, essay-long points, an answer
    that echoes the prompt's fenced data, or one that copies `source` (the real text).
    """
    outside = ANSWER_TAGS + PROMPT_BLOCKS + TEXT_TAGS  # echoed data is no answer
    block = find_tag(raw, "intent") or untagged_bullets(raw, known=outside)
    notes: tuple[str, ...] = ()
    if block is None and (plain := untagged_text(raw, known=outside)) is not None:
        if _REFUSAL.match(plain.text):
            return Rejected("no <intent> block, and the answer declines the task")
        block, notes = plain, ("no <intent> tags and no bullets: each sentence of the answer was taken as a point",)
    if block is None and _echoes_prompt(raw, PROMPT_BLOCKS + TEXT_TAGS):
        return Rejected(
            "the answer only repeats the prompt's <metadata>/<email> blocks; write short notes of what the text says"
        )
    if block is None:
        return _missing("intent", raw)
    if problem := _cut_off(block, finish_reason, "intent"):
        return problem
    if _PROMPT_FENCES.search(block.text):
        return Rejected("the answer repeats the prompt's <metadata>/<email> blocks instead of writing notes")
    if copies_source(block.text, source):
        return Rejected("the answer copies the text word for word; write short notes of what it says")
    points = bullets(block.text)
    if not points:
        points = [
            sentence
            for line in block.text.splitlines()
            if not is_placeholder(line) and not _HEADER_OR_SALUTATION.match(line)
            for sentence in _SENTENCE_END.split(line.strip())
            if re.search(r"[A-Za-z]{2,}", sentence)
        ]
        if points and not notes:
            notes = ("no bullet markers: each sentence was taken as a point",)
    if not points:
        return Rejected("the <intent> block has no bullet points (lines starting with '- ')")
    if len(points) > MAX_BULLETS:
        return Rejected(f"the intent has {len(points)} bullet points; keep it to the content, at most {MAX_BULLETS}")
    longest = max(points, key=lambda point: len(point.split()))
    if len(longest.split()) > MAX_BULLET_WORDS:
        return Rejected(
            f"a bullet point has {len(longest.split())} words; bullets must be short (at most {MAX_BULLET_WORDS})"
        )
    if not block.opened and _echoes_prompt(raw, PROMPT_BLOCKS + TEXT_TAGS):
        notes = (*notes, _ECHO_NOTE)
    scratchpad = extract_tag(raw, "scratchpad")
    return Parsed("\n".join(f"- {point}" for point in points), scratchpad, notes)


# Lines a chat model puts before the text it was asked for ("Sure! Here is the email:").
_CHATTER = re.compile(
    r"""^\s*(?:
        (?:sure|certainly|of\s+course|okay|ok|absolutely)[!.,]?
      | (?:sure|certainly|of\s+course|absolutely)[!,.]\s+(?:here|i'?ll|i\s+will|i\s+can|let\s+me)\b[^\n]{0,80}
      | (?:here(?:\s+(?:is|are)|['\u2019]s)|below\s+is|i\s+(?:have\s+)?(?:wrote|written|drafted))\b[^\n]{0,80}:
      | (?:i'?m|i\s+am)\s+(?:ready|happy|glad)\s+to\s+help\b[^\n]{0,80}
      | (?:how\s+can\s+i\s+(?:help|assist)|what\s+can\s+i\s+do\s+for\s+you)\b[^\n]{0,80}
      | [<\[(*"]*\s*task\s*:[^\n]{0,300}
      | (?:\*\*)?(?:draft|email|post|review|notes|intent)(?:\*\*)?\s*:(?:\*\*)?
      | (?:\*\*)?subject(?:\*\*)?\s*:[^\n]{0,200}
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_REFUSAL = re.compile(
    r"^\s*(?:i'?m\s+sorry|i\s+am\s+sorry|sorry,|i\s+(?:can(?:no|')t|cannot|am\s+unable|won'?t)|as\s+an\s+ai)\b",
    re.IGNORECASE,
)
_TEMPLATE_DEBRIS = re.compile(r"<\|[^|<>]{1,30}\|>(?:assistant|user|system)?")


def untagged_text(text: str, *, known: tuple[str, ...] = ANSWER_TAGS) -> TagBlock | None:
    """The answer outside every tagged block, minus leading chatter: a draft written without tags.

    Small models often just write the email. Other blocks (<thinking>…) are cut out, and so are
    the "Sure! Here is the email:" lines models put first; what remains is taken as the text.
    """
    lines = _clean(_outside_tags(_TEMPLATE_DEBRIS.sub("", text), known)).splitlines()
    while lines and (not lines[0].strip() or _CHATTER.match(lines[0])):
        lines.pop(0)
    body = "\n".join(lines).strip()
    return TagBlock(body, opened=False, closed=False) if body else None


def untagged_prose(text: str, *, known: tuple[str, ...] = ANSWER_TAGS) -> str | None:
    """The plain sentences outside every tagged block and list: thinking written without tags.

    Chatter lines and bullets (the rules themselves, when untagged) are left out; fewer than
    five words is no thinking.
    """
    plain = untagged_text(text, known=known)
    if plain is None:
        return None
    lines = [
        line
        for line in plain.text.splitlines()
        if line.strip() and not _BULLET.match(line) and not _CHATTER.match(line)
    ]
    prose = "\n".join(lines).strip()
    return prose if len(re.findall(r"[A-Za-z]{2,}", prose)) >= 5 else None


def parse_draft(raw: str, finish_reason: str | None = "stop") -> ParseResult:
    """A zero-shot draft: the text inside <draft>, or the whole answer when it has no such tag.

    Still rejected: an empty answer, an echo of the format placeholder, an answer cut off by
    max_tokens, or one with no words.
    """
    outside = ANSWER_TAGS + PROMPT_BLOCKS + TEXT_TAGS
    wrapped = next((found for tag in TEXT_TAGS if (found := find_tag(raw, tag, known=outside))), None)
    block = find_tag(raw, "draft") or wrapped or untagged_text(raw, known=outside)
    if block is None and _echoes_prompt(raw, PROMPT_BLOCKS):
        return Rejected(
            "the answer only repeats the prompt's <metadata>/<previous_message> blocks; write the text itself"
        )
    if block is None:
        return _missing("draft", raw, bullets_allowed=False)
    if problem := _cut_off(block, finish_reason, "draft"):
        return problem
    if not (block.opened or block.closed) and _REFUSAL.match(block.text):
        return Rejected("no <draft> block, and the answer declines the task")
    if _PROMPT_FENCES.search(block.text):
        return Rejected(
            "the answer repeats the prompt's <metadata>/<previous_message> blocks instead of writing the text"
        )
    if not re.search(r"\w", block.text) or is_placeholder(block.text):
        return Rejected("the <draft> block has no words of its own")
    notes: tuple[str, ...] = ()
    if block is wrapped:
        notes = ("no <draft> tags: the text the model wrapped in its own tags was taken as the draft",)
    elif not (block.opened or block.closed):
        notes = ("no <draft> tags: the whole answer, without its leading chatter, was taken as the draft",)
    if not block.opened and _echoes_prompt(raw, PROMPT_BLOCKS):
        notes = (*notes, _ECHO_NOTE)
    return Parsed(block.text, extract_tag(raw, "thinking") or extract_tag(raw, "scratchpad"), notes)


# Phrases that make a rule depend on the texts the model compared; rules must stand alone.
_COMPARED_TEXTS = re.compile(
    r"""\b(?:
        (?:the|this|that|your|my)\s+(?:zero[- ]shot\s+|ai[- ]?(?:generated\s+)?|model'?s?\s+|baseline\s+|generated\s+)?draft\b
      | zero[- ]shot
      | (?:the|this)\s+original(?:\s+(?:email|text|message|version|post|review|one|draft|wording)\b|(?=\s*(?:[.,;:!?()]|$)))
      | \b(?:as|than|like|from|unlike)\s+(?:in\s+)?the\s+original\b
      | (?:the|this)\s+(?:real|actual|reference|target|given|provided|sample|example|user'?s)\s+(?:email|text|message|post|review|article|version|one)\b
      | (?:the|this)\s+(?:email|text|message|post|review|article|one)\s+(?:above|below)\b
      | (?:above|below)\s+(?:email|text|message|post|review|draft)\b
      | (?:the|both)\s+(?:first|second|two)\s+(?:emails|texts|messages|posts|reviews|versions)\b
      | (?:the\s+)?(?:first|second)\s+(?:email|text|message|post|review|version)\b
      | (?:compared|in\s+comparison)\s+(?:to|with)\s+the\b
      | than\s+the\s+(?:draft|original|baseline|generated|model)\b
      | the\s+baseline\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)

_NUMBER_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|a\s+few|a\s+couple\s+of|several|single"
_LENGTH_UNITS = r"words?|sentences?|lines?|paragraphs?|characters?|bullet(?:\s+points?)?s?|clauses?|phrases?"
_STATED_LENGTH = re.compile(
    rf"""
      \b\d+\s*(?:[-–]|to|or)?\s*\d*\s*(?:{_LENGTH_UNITS})\b
    | \b(?:{_NUMBER_WORDS})(?:\s*(?:[-–]|to|or)\s*(?:{_NUMBER_WORDS}|\d+))?[\s-]+(?:{_LENGTH_UNITS})\b
    | \b(?:one|single|two|three)[- ](?:liner|line|sentence|word|paragraph)s?\b
    | \b(?:length|short|shorter|brief|briefer|concise|terse|succinct|long|longer|lengthy|word\s+count|wordy|verbose)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def states_length(rules: str) -> bool:
    return bool(_STATED_LENGTH.search(rules))


_COUNTED_LENGTH = re.compile(
    rf"""
      \b\d+\s*(?:[-–]|to|or)?\s*\d*\s*(?:{_LENGTH_UNITS})\b
    | \b(?:{_NUMBER_WORDS})(?:\s*(?:[-–]|to|or)\s*(?:{_NUMBER_WORDS}|\d+))?[\s-]+(?:{_LENGTH_UNITS})\b
    | \b(?:one|single|two|three)[- ](?:liner|line|sentence|word|paragraph)s?\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def states_counted_length(rules: str) -> bool:
    """True when the rules give a length in numbers ('about 40 words', 'two sentences'), not just 'brief'."""
    return bool(_COUNTED_LENGTH.search(rules))


@dataclass(frozen=True)
class TextLength:
    """The real text's length, which pa counts itself: models estimate lengths badly."""

    words: int
    paragraphs: int
    sentences: int = 0

    @classmethod
    def of(cls, text: str) -> TextLength:
        paragraphs = [block for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
        return cls(len(text.split()), max(1, len(paragraphs)), count_sentences(text))

    def rule(self) -> str:
        words = self.words if self.words < 20 else 5 * round(self.words / 5)
        unit = "paragraph" if self.paragraphs == 1 else "paragraphs"
        if not self.sentences:
            return f"Length: about {words} words in {self.paragraphs} {unit}."
        said = "sentence" if self.sentences == 1 else "sentences"
        return f"Length: about {words} words, {self.sentences} {said}, {self.paragraphs} {unit}."

    def note(self, replaced: list[str] | None = None) -> str:
        counted = f"{self.words} words, {self.sentences} sentence(s), {self.paragraphs} paragraph(s)"
        if replaced:
            return (
                f"pa counted the length from the real text ({counted}) and stated it as the length rule, "
                f"replacing the model's length claim(s): {'; '.join(repr(rule) for rule in replaced)}"
            )
        return f"pa counted the length from the real text ({counted}) and stated it as the length rule (the model's rules gave none)."


_SENTENCE_STOP = re.compile(r"[.!?]+(?=\s|$)")


def count_sentences(text: str) -> int:
    """Sentences of a text: each run of . ! ? before a space or the end, and each line of four or
    more words that ends without one (a list item); a greeting or closing line ('Hi Bob,') is none."""
    count = 0
    for line in text.splitlines():
        line = line.strip()
        if not re.search(r"[^\W\d_]", line):
            continue
        stops = len(_SENTENCE_STOP.findall(line))
        open_end = not re.search(r"[.!?][\"')\]]*$", line) and len(line.split()) >= 4
        count += stops + (1 if open_end else 0)
    return count


# A rule whose claim is the text's size in words, sentences or paragraphs ("Keep it to about 40
# words", "Length: two short paragraphs"); pa replaces these with the length it counted.
_LENGTH_CLAIM = re.compile(
    rf"""^\W*length\b
    | \b(?:\d+|{_NUMBER_WORDS})(?:\s*(?:[-–]|to|or)\s*(?:\d+|{_NUMBER_WORDS}))?[\s-]+(?:short\s+|brief\s+|long\s+)?(?:words?|sentences?|paragraphs?|characters?)\b
    | \b(?:one|single|two|three)[- ](?:liner|sentence|word|paragraph)s?\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def claims_length(rule: str) -> bool:
    """True when a rule states the text's length in words, sentences or paragraphs (pa counts those itself)."""
    return bool(_LENGTH_CLAIM.search(rule))


def compared_text_reference(rules: str) -> str | None:
    """The first phrase that refers to the compared texts ('the draft', 'the original'…), if any."""
    match = _COMPARED_TEXTS.search(rules)
    return " ".join(match.group(0).split()) if match else None


def parse_rules(
    raw: str, finish_reason: str | None = "stop", *, require_thinking: bool = True, length: TextLength | None = None
) -> ParseResult:
    """Preference rules: the differences inside <thinking>, then standalone rules inside <rules>.

    Rejected when the rules are missing, cut off, or every rule mentions the texts they were
    derived from (a rule like "shorter than the draft" means nothing later). Single rules that
    mention those texts are dropped and noted; the others are kept. The target length: with
    `length` (the real text's, which pa knows), a rule stating it is added when the model gave
    no counted length; without it, rules that state no length are rejected.
    """
    block = find_tag(raw, "rules") or untagged_bullets(raw)
    if block is None:
        return _missing("rules", raw)
    notes: list[str] = []
    if problem := _cut_off(block, finish_reason, "rules"):
        # A list cut off by max_tokens inside <rules> loses only its unfinished last line.
        finished = block.text.splitlines()[:-1]
        if not block.opened or not bullets("\n".join(finished)):
            return problem
        block = replace(block, text="\n".join(finished))
        notes.append(
            f"the answer was cut off at max_tokens; pa kept its {len(bullets(block.text))} finished rule(s) and dropped the unfinished last line"
        )
    lines = [line.strip() for line in block.text.splitlines() if line.strip() and not is_placeholder(line)]
    if not any(re.search(r"[A-Za-z]{2,}", line) for line in lines):
        return Rejected("the <rules> block has no rules in words")
    thinking = extract_tag(raw, "thinking")
    if not thinking and (thinking := untagged_prose(raw)):
        notes.append("no <thinking> tags: the prose outside the rules was taken as the thinking")
    if require_thinking and not thinking:
        return Rejected("no <thinking> block listing the differences before the rules")
    points = bullets(block.text)
    rules = points if points else lines
    standalone = [rule for rule in rules if not compared_text_reference(rule)]
    if not standalone or not any(re.search(r"[A-Za-z]{2,}", rule) for rule in standalone):
        reference = compared_text_reference(block.text) or "the texts compared"
        return Rejected(
            f"the rules refer to {reference!r}; each rule must stand alone, without mentioning the texts compared"
        )
    if len(standalone) < len(rules):
        dropped = [compared_text_reference(rule) for rule in rules if compared_text_reference(rule)]
        notes.append(
            f"pa dropped {len(dropped)} rule(s) that mentioned the texts compared ({', '.join(repr(d) for d in dropped)})"
        )
    text = "\n".join(standalone)
    if length is not None:
        # The length is counted by pa, always: the model's own length claims are replaced by it.
        replaced = [rule for rule in standalone if claims_length(rule)]
        standalone = [rule for rule in standalone if not claims_length(rule)]
        standalone.append(length.rule())
        notes.append(length.note(replaced))
    elif not states_length(text):
        return Rejected("the rules do not state the target length (e.g. 'about 40 words', 'two short sentences')")
    content = "\n".join(f"- {rule}" for rule in standalone) if points else "\n".join(standalone)
    return Parsed(content, thinking, tuple(notes))


# -- written texts (drafts, finals, baselines): the model's text, never the prompt -----------

PROMPT_TAGS = (
    "details",
    "intent",
    "preference_rules",
    "example",
    "metadata",
    "previous_message",
    "previous",
    "rules",
    "thinking",
    "scratchpad",
)
"""Blocks of drafting and distillation prompts (and agent answers) that are never part of a written text."""
_RULES_SECTION = re.compile(
    r"=+\s*preference rules\b.*?(?:=+\s*end preference rules\s*=+|\Z)", re.IGNORECASE | re.DOTALL
)
_LINE_MARK = re.compile(r"^[\s\-*•>#\d.)]*")
_ECHO_MIN_WORDS = 4
"""A line of the answer equal to a prompt line of at least this many words is an echo; shorter
lines ('Thanks,', 'Hi Sam,') are left, since the person's previous message may share them."""


def _line_key(line: str) -> str:
    words = re.findall(r"[\w']+", _LINE_MARK.sub("", line).lower())
    return " ".join(words)


@dataclass(frozen=True)
class PromptEcho:
    """What of a prompt a written answer must not repeat: its long lines and pa's own wording
    (the template's, and what pa wrote to the model: a check's feedback, a retry note)."""

    lines: frozenset[str]
    scaffold: frozenset[str]
    scaffold_runs: frozenset[tuple[str, ...]] = frozenset()
    every_line: frozenset[str] = frozenset()
    """Every prompt line, short ones too: an answer made only of them is an echo ("- No greeting.")."""
    """Every run of `_ECHO_RUN_WORDS` words of pa's wording: a line with one echoes it even
    when the model changed the rest ("expected 0-68 words (1st percentile of 9 texts)")."""

    @classmethod
    def of(cls, prompt: str, scaffold: tuple[str, ...] = ()) -> PromptEcho:
        keys = {_line_key(line) for line in prompt.splitlines()}
        fixed = {_line_key(line) for text in scaffold for line in PLACEHOLDER_FIELD.sub("", text).splitlines()}
        return cls(
            frozenset(key for key in keys if len(key.split()) >= _ECHO_MIN_WORDS),
            frozenset(key for key in fixed if key and len(key.split()) >= 2),
            frozenset(run for key in fixed for run in _runs(key.split())),
            frozenset(key for key in keys if key),
        )

    def repeats(self, line: str) -> bool:
        key = _line_key(line)
        if not key:
            return False
        if _BULLET_LINE.match(line) and key in self.every_line:  # a copied rule: "- No greeting."
            return True
        return key in self.lines or key in self.scaffold or any(run in self.scaffold_runs for run in _runs(key.split()))

    def starts_a_line(self, line: str) -> bool:
        """`line` is the start of a prompt line (an echo cut off by max_tokens: "- Sign")."""
        key = _line_key(line)
        return bool(key) and any(full.startswith(key) and full != key for full in self.every_line)

    def only_prompt_lines(self, text: str) -> bool:
        keys = [_line_key(line) for line in text.splitlines()]
        return all(key in self.every_line for key in keys if key)


_BULLET_LINE = re.compile(r"^\s*[-*•]\s")
_ECHO_RUN_WORDS = 5
"""Words in a row shared with pa's own wording that make a line an echo of it."""


def _runs(words: list[str]) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + _ECHO_RUN_WORDS]) for i in range(len(words) - _ECHO_RUN_WORDS + 1)]


_ANNOUNCES_VERSION = re.compile(
    r"^\s*(?:here(?:\s+is|['\u2019]s)|this\s+is|below\s+is)\s+(?:a|an|the|my|your)\b[^\n]{0,60}"
    r"\b(?:version|e-?mail|draft|message|rewrite)\b[^\n]{0,60}:\s*$",
    re.IGNORECASE,
)
"""A line announcing (another) version of the text: never part of it, wherever it stands."""
_TRAILING_GREETING = re.compile(r"^\s*(?:dear|hi|hello|hey)\b[^\n]{0,40},\s*$", re.IGNORECASE)


_CHANGE_NOTE = re.compile(
    r"^\s*(?:(?:i(?:'ve|\s+have)?\s+made|here\s+are|the|(?:changes|edits|revisions)\s+made)\b[^\n]{0,40}"
    r"\b(?:changes|edits|revisions|improvements|adjustments)\b[^\n]*\b(?:clarity|grammar|style|tone|readability)\b"
    r"|in\s+this\s+(?:(?:revised|rewritten|updated|new|final)\s+)?(?:version|draft|rewrite),\s+i(?:'ve|\s+have)?\s+\w+)",
    re.IGNORECASE,
)
"""A line opening a model's note on its own edits ("I made several changes to improve clarity,
grammar, and style:", "In this version, I've used a friendly tone ..."): it and what follows
it are about the text, never part of it."""


_SUBJECT_LINE = re.compile(r"^\s*(?:\*\*)?subject(?:\*\*)?\s*:", re.IGNORECASE)
_BRACKETED_LINE = re.compile(
    r"^\s*\[(?:[^\[\]\n]{1,60}|[^\[\]]*\b(?:e-?mail|message|text|draft|tags?|version|answer)\b[^\[\]]*)\]\s*$",
    re.IGNORECASE,
)
"""A line that is only a bracketed placeholder ("[Template]", "[Your response here]") or a note
about the text, however long ("[Here is the complete email without the tags.]"): a model's
filler, never a line a person sends."""
_ABOUT_ITSELF = re.compile(
    r"^\s*(?:the|this|your|my)\s+(?:e-?mail|message|text|draft|answer|response)\s+(?:is|has\s+been)\s+"
    r"(?:now\s+)?(?:complete|completed|ready|done|finished|written)\b[^\n]{0,80}$",
    re.IGNORECASE,
)
"""A model's sentence about its own text ("The email is now complete.")."""
_COMMENTS_ON_ITSELF = re.compile(
    r"^\s*this\s+(?:(?:revised|rewritten|updated|improved|edited|new|final)\s+(?:e-?mail|message|text|draft|version)\s+"
    r"(?:includes|uses|follows|keeps|maintains|reflects|incorporates|addresses|adheres|sounds|is\s+more)\b"
    r"|(?:e-?mail|message|version)\s+(?:has\s+been|was)\s+(?:edited|revised|rewritten|updated|modified)\b)",
    re.IGNORECASE,
)
"""A model's comment on how its rewrite is written ("This revised email includes a clear
call-to-action, ...", "This version has been edited to ..."): about the text, never part of it.
Only a rewrite counts, so a person's "This email includes the figures" or "This draft was
updated with Sara's numbers" stays."""
_HTML_TAG = re.compile(r"</?(?:p|br|div|span)\s*/?>", re.IGNORECASE)
_DEBRIS_HEAD = 3
"""Non-empty lines from the top in which a subject line or a second greeting is debris."""


def _without_debris(lines: list[str]) -> tuple[list[str], int]:
    """The lines without a model's debris inside the text: a "Subject:" line near the top, a
    second greeting right under the first ("Hi Sue,\n\nDear Sarah,"), a line that is only a note or
    placeholder in brackets ("[Here is the complete email without the tags.]", "[Template]"), a
    sentence about the text itself ("The email is now complete.") or a comment on its rewrite,
    and paragraph HTML tags."""
    kept: list[str] = []
    cut = 0
    seen = 0
    for line in lines:
        if line.strip():
            seen += 1
            near_top = seen <= _DEBRIS_HEAD
            greeted = [k for k in kept if k.strip()]
            second_greeting = (
                len(greeted) == 1 and _TRAILING_GREETING.match(greeted[0]) and _TRAILING_GREETING.match(line)
            )
            if (
                (near_top and _SUBJECT_LINE.match(line))
                or second_greeting
                or _BRACKETED_LINE.match(line)
                or _ABOUT_ITSELF.match(line)
                or _COMMENTS_ON_ITSELF.match(line)
            ):
                cut += 1
                continue
            without_html = _HTML_TAG.sub("", line)
            if without_html != line:
                cut += 1
                line = without_html
        kept.append(line)
    return (_merged_blanks(kept) if cut else kept), cut


def _merged_blanks(lines: list[str]) -> list[str]:
    """Blank lines a cut left doubled, merged."""
    return [line for i, line in enumerate(lines) if line.strip() or i == 0 or lines[i - 1].strip()]


def _without_change_notes(lines: list[str]) -> tuple[list[str], int]:
    """The lines up to a model's note on the changes it made (all of them when the note opens
    the answer: then there is no text, see `parse_written`)."""
    for i, line in enumerate(lines):
        if _CHANGE_NOTE.match(line):
            cut = sum(1 for rest in lines[i:] if rest.strip())
            return lines[:i], cut
    return lines, 0


def _without_repeats(lines: list[str]) -> tuple[list[str], int]:
    """The lines without those that repeat an earlier line of at least `_ECHO_MIN_WORDS` words
    or announce another version (a small model writing its email twice), and without the
    greeting such a second copy leaves at the end; blank lines left doubled by a cut are merged."""
    seen: set[str] = set()
    kept: list[str] = []
    for line in lines:
        key = _line_key(line)
        if (len(key.split()) >= _ECHO_MIN_WORDS and key in seen) or _ANNOUNCES_VERSION.match(line):
            continue
        seen.add(key)
        kept.append(line)
    cut = len(lines) - len(kept)
    if cut:
        kept = [line for i, line in enumerate(kept) if line.strip() or i == 0 or kept[i - 1].strip()]
        filled = [i for i, line in enumerate(kept) if line.strip()]
        if len(filled) > 1 and _TRAILING_GREETING.match(kept[filled[-1]]):  # the start of a second copy
            kept, cut = kept[: filled[-1]], cut + 1
    return kept, cut


PLACEHOLDER_FIELD = re.compile(r"\{\{\s*\w+\s*\}\}")
NO_TEXT_OF_ITS_OWN = "the answer only repeats the prompt"
_NOTE_LINE = re.compile(r"^(?:\[[^\[\]]*\]|<[^<>\n]{1,40}>|\(\s*[^()]{0,40}\)|\.{2,}|…)$")
"""A line that stands for text without being any: "[Your message here]", "<report>", "(body)", "..."."""


def _body_lines(text: str) -> list[str]:
    """The non-empty lines between the greeting and the closing."""
    _, rest = find_greeting(text)
    _, body = find_closing(rest)
    return [line.strip().lstrip("-*• ").strip() for line in body.splitlines() if line.strip()]


def _says_nothing(answer: str, content: str) -> bool:
    """Whether the text has only placeholder or note lines between its greeting and closing, or
    nothing left there after pa's cuts (with nothing there in the answer either it is text:
    "Hi Sam,\nThanks!\nJeff" reads as greeting and closing)."""
    lines = _body_lines(content)
    if not lines:
        return bool(_body_lines(answer))
    return all(_NOTE_LINE.match(line) for line in lines)


def parse_written(raw: str, finish_reason: str | None = "stop", *, echo: PromptEcho | None = None) -> ParseResult:
    """A written text (naive draft, final, baseline answer), with whatever it echoed of the prompt cut.

    Cut: the prompt's tagged blocks (`<details>`, `<intent>`, `<preference_rules>`…), the marked
    rules section, lines that repeat a prompt line or the template's own wording, chat-template
    debris, leading chatter ("Sure! Here is the email:", a "Subject:" line), lines that
    repeat an earlier line of the answer (the text written twice) and a trailing note on the
    changes the model made ("I made several changes to improve clarity:"). A text wrapped in <draft>/<email>
    tags is taken from inside them. Rejected when nothing of the model's own is left (an answer
    that is only an echo) or when the answer declines the task; each cut is noted.
    """
    text = _TEMPLATE_DEBRIS.sub("", raw)
    known = PROMPT_TAGS + ("draft",) + TEXT_TAGS
    notes: list[str] = []
    wrapped = next(
        (block for tag in ("draft", *TEXT_TAGS) if (block := find_tag(text, tag, known=known)) and block.opened), None
    )
    if wrapped is not None:
        body = wrapped.text
    else:
        body = _outside_tags(text, known)
    if _tag_pattern(PROMPT_TAGS).search(text):
        notes.append("pa cut the prompt's tagged blocks that the model copied into its answer")
    body, sections = _RULES_SECTION.subn("", body)
    if sections:
        notes.append("pa cut the preference-rules section that the model copied into its answer")
    lines = body.splitlines()
    if echo is not None:
        kept = [line for line in lines if not echo.repeats(line)]
        if sum(1 for line in kept if line.strip()) < sum(1 for line in lines if line.strip()):
            notes.append(
                f"pa cut {sum(1 for line in lines if line.strip()) - sum(1 for line in kept if line.strip())} line(s) that repeat the prompt"
            )
            kept = _merged_blanks(kept)
        lines = kept
    lines = _clean("\n".join(lines)).splitlines()
    if echo is not None and finish_reason == "length" and lines and echo.starts_a_line(lines[-1]):
        lines.pop()  # an echo that max_tokens cut off
        notes.append("pa cut the last line, the start of a prompt line cut off at max_tokens")
    while lines and (not lines[0].strip() or _CHATTER.match(lines[0])):
        lines.pop(0)
    lines, debris = _without_debris(lines)
    if debris:
        notes.append(
            f"pa cut {debris} piece(s) of model debris (a subject line, a second greeting, a note or placeholder in brackets, HTML tags)"
        )
    lines, repeated = _without_repeats(lines)
    if repeated:
        notes.append(f"pa cut {repeated} line(s) of a second copy of the text (repeated or announcing a version)")
    lines, explained = _without_change_notes(lines)
    if explained:
        notes.append(f"pa cut the model's {explained}-line note on the changes it made, after the text")
    content = "\n".join(lines).strip()
    has_words = re.search(r"[^\W\d_]{2,}", content) is not None
    if explained and not has_words:
        return Rejected("the answer is only a note on changes the model made, with no text")
    if not has_words or is_placeholder(content):
        return Rejected(f"{NO_TEXT_OF_ITS_OWN}; it has no text of its own")
    if echo is not None and echo.only_prompt_lines(content):
        return Rejected(f"{NO_TEXT_OF_ITS_OWN}; each of its lines is a line of the prompt")
    if _says_nothing(body, content):
        return Rejected("between its greeting and closing the answer has no text, only a placeholder or a note")
    if _REFUSAL.match(content):
        return Rejected("the answer declines the task")
    if finish_reason == "length":
        notes.append("the text was cut off at max_tokens")
    return Parsed(content, None, tuple(notes))
