"""Phrasings the person corrects: words of pa's finals they replace in what they send.

Each sent edit pairs the final pa wrote with the text the person sent. Diffing their bodies
word by word (greeting and closing aside: the final check has its own facts for those) shows
the small swaps a person makes out of habit: "Thank you" -> "Thanks", "regarding" -> "about",
a stock sentence deleted ("I hope this email finds you well."), the lines of a paragraph joined
into one (`LINE_BREAK`). A swap made in at least `MIN_EDITS` edits, and not undone since (no
later sent text keeps the old form), is a phrasing pa has learned by code: the final check
applies it to every new final, at once, without a model.
Pure: no store, no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import partial

from core.style.text_facts import body_of, normalise

MIN_EDITS = 2
"""Edits that must make the same swap before pa applies it: one could be about that text alone."""
MAX_SWAP_TOKENS = 4
"""The longest word run taken as a swap; longer replacements rewrite content, not phrasing."""
MAX_SENTENCE_TOKENS = 20
"""The longest sentence taken as a stock sentence the person deletes."""
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_SENTENCE_ENDS = {".", "!", "?"}


LINE_BREAK = "\n"
"""The `old` of the one layout swap: a line break inside a paragraph, which the person joins
into one line (`new` is a space). It is learned and undone like a word swap."""


@dataclass(frozen=True)
class Phrasing:
    """The person writes `new` where pa wrote `old` (`new` empty: they delete `old`)."""

    old: str
    new: str
    edits: int
    """Sent edits that made this swap."""

    def describe(self) -> str:
        if self.old == LINE_BREAK:
            return "joins the lines of a paragraph into one"
        return f"{self.new!r} for {self.old!r}" if self.new else f"deletes {self.old!r}"

    def shown(self) -> str:
        """The old form as a check shows it."""
        return "a line break inside a paragraph" if self.old == LINE_BREAK else repr(self.old)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text))


def _join(tokens: Sequence[str]) -> str:
    """Tokens as text: a space between words, none before punctuation."""
    out = ""
    for token in tokens:
        glue = "" if not out or not token[0].isalnum() else " "
        out += glue + token
    return out


def _has_word(tokens: Sequence[str]) -> bool:
    return any(token[0].isalnum() for token in tokens)


def _stable(tokens: Sequence[str]) -> bool:
    """No digits (dates, sums, times belong to one text's content)."""
    return not any(ch.isdigit() for token in tokens for ch in token)


Swaps = dict[tuple[str, str], tuple[str, str]]
"""(old, new) case-folded -> (old, new) as written."""


def swaps(final: str, sent: str) -> Swaps:
    """The swaps from `final`'s body to `sent`'s body: short replacements, and whole
    sentences deleted."""
    before, after = _tokens(body_of(final)), _tokens(body_of(sent))
    found: Swaps = {}
    matcher = SequenceMatcher(None, [t.lower() for t in before], [t.lower() for t in after], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or op == "insert":
            continue
        if op == "replace":  # "I hope this finds you well. Thank you" -> "Thanks": a sentence went, then a swap
            i1 = _after_deleted_sentences(before, i1, i2, found)
        else:
            _after_deleted_sentences(before, i1, i2, found, keep=0)
            continue
        old, new = before[i1:i2], after[j1:j2]
        if len(old) <= MAX_SWAP_TOKENS and len(new) <= MAX_SWAP_TOKENS:
            for old_part, new_part in _aligned(old, new):
                if _stable(old_part) and _stable(new_part):
                    _add(found, old_part, new_part)
    return found


def _add(found: Swaps, old: Sequence[str], new: Sequence[str]) -> None:
    found[(_join(old).lower(), _join(new).lower())] = (_join(old), _join(new))


def _after_deleted_sentences(
    tokens: Sequence[str], start: int, end: int, found: Swaps, keep: int = MAX_SWAP_TOKENS
) -> int:
    """Record the whole sentences at the start of `tokens[start:end]` as deleted, while more
    than `keep` tokens stay after them; returns where the rest starts."""
    while end - start > keep and (start == 0 or tokens[start - 1] in _SENTENCE_ENDS):
        stop = next((i + 1 for i in range(start, end) if tokens[i] in _SENTENCE_ENDS), None)
        if stop is None or (keep and stop >= end):
            break
        sentence = tokens[start:stop]
        if _has_word(sentence) and len(sentence) <= MAX_SENTENCE_TOKENS and _stable(sentence):
            _add(found, sentence, [])
        start = stop
    return start


def _aligned(old: Sequence[str], new: Sequence[str]) -> list[tuple[Sequence[str], Sequence[str]]]:
    """A replacement split where punctuation lines up ("! Additionally" -> ". Also" is two
    swaps, "!" -> "." and "additionally" -> "also"), else whole."""
    if len(old) != len(new) or [t[0].isalnum() for t in old] != [t[0].isalnum() for t in new]:
        return [(old, new)]
    return [([a], [b]) for a, b in zip(old, new) if a.lower() != b.lower()]


def _paragraphs(body: str) -> list[str]:
    return re.split(r"\n\s*\n", body)


def inner_line_breaks(text: str) -> int:
    """Line breaks inside the paragraphs of `text`'s body (not the blank lines between them)."""
    return sum(paragraph.strip().count("\n") for paragraph in _paragraphs(body_of(normalise(text))))


def _joins_lines(final: str, sent: str) -> bool:
    """pa's final broke a paragraph into lines; the text the person sent has none broken."""
    return inner_line_breaks(final) > 0 and inner_line_breaks(sent) == 0


def learned_phrasings(pairs: Iterable[tuple[str, str]]) -> list[Phrasing]:
    """Phrasings from (final, sent) pairs, oldest first: swaps made in at least `MIN_EDITS`
    edits whose old form no later sent text keeps (a line break inside a paragraph, joined,
    counts as the swap `LINE_BREAK` -> " "); most edits first."""
    pairs = [(final, sent) for final, sent in pairs if final and final.strip() != sent.strip()]
    made: dict[tuple[str, str], list[int]] = {}
    written: Swaps = {}
    for index, (final, sent) in enumerate(pairs):
        found = swaps(final, sent)
        if _joins_lines(final, sent):
            found[(LINE_BREAK, " ")] = (LINE_BREAK, " ")
        for swap, as_written in found.items():
            made.setdefault(swap, []).append(index)
            written[swap] = as_written  # the latest edit's
    learned = []
    for (old, new), where in made.items():
        if len(where) < MIN_EDITS:
            continue
        later = [sent for _, sent in pairs[where[-1] + 1 :]]
        if any(_kept(old, sent) for sent in later):  # kept since: no longer their habit
            continue
        learned.append(Phrasing(*written[(old, new)], len(where)))
    # Longer swaps first, so a sentence goes whole before a swap inside it could change it.
    return sorted(learned, key=lambda p: (-p.edits, -len(p.old), p.old))


def _pattern(old: str) -> re.Pattern[str]:
    tokens = _TOKEN.findall(old)
    parts = [re.escape(tokens[0])]
    for previous, token in zip(tokens, tokens[1:]):
        parts.append((r"\s+" if token[0].isalnum() and previous[-1].isalnum() else r"\s*") + re.escape(token))
    start = r"(?<!\w)" if tokens[0][0].isalnum() else ""
    end = r"(?!\w)" if tokens[-1][-1].isalnum() else ""
    return re.compile(start + "".join(parts) + end + (r"[ \t]*" if _is_sentence(tokens) else ""), re.IGNORECASE)


def _is_sentence(tokens: Sequence[str]) -> bool:
    return tokens[-1] in _SENTENCE_ENDS and _has_word(tokens)


def _kept(old: str, text: str) -> bool:
    """Whether `text`'s body has `old`."""
    if old == LINE_BREAK:
        return inner_line_breaks(text) > 0
    return _pattern(old).search(body_of(text)) is not None


def found_in(text: str, phrasings: Sequence[Phrasing]) -> list[Phrasing]:
    """The phrasings whose old form `text`'s body still has."""
    return [p for p in phrasings if _kept(p.old, text)]


def apply(text: str, phrasings: Sequence[Phrasing]) -> str:
    """`text` with each phrasing's old form swapped for the new one in its body (a capital
    first letter kept), the greeting and closing as they were."""
    text = normalise(text)
    body = body_of(text)
    start = text.find(body) if body else -1
    if start < 0 or not phrasings:
        return text
    new_body = body
    for phrasing in phrasings:
        if phrasing.old == LINE_BREAK:
            new_body = "\n\n".join(" ".join(paragraph.split("\n")) for paragraph in _paragraphs(new_body))
            continue
        new_body = _pattern(phrasing.old).sub(partial(_cased, phrasing.new), new_body)
    new_body = "\n".join(" ".join(line.split()) for line in new_body.split("\n"))  # no doubled spaces left
    new_body = re.sub(r"\n{3,}", "\n\n", new_body).strip("\n")
    return text[:start] + new_body + text[start + len(body) :]


def _cased(new: str, match: re.Match[str]) -> str:
    """`new` with the first letter's case of the words it replaces ("I" stays a capital)."""
    matched = match.group(0)
    if not new or not new[0].isalpha():
        return new
    if matched[:1].isupper():
        return new[0].upper() + new[1:]
    first = _TOKEN.match(new)
    keeps_capital = first is not None and (first.group(0) == "I" or first.group(0).startswith("I'"))
    return new if keeps_capital else new[0].lower() + new[1:]
