"""Keep only what the person wrote: cut quoted replies, forwards, signatures and disclaimers.

The person's words include their greeting and their closing (valediction and name: "Thanks,\n
Theresa"): every later stage (distillation, training targets, few-shot examples, the judge's
reference, similarity) must see how they open and close. What is cut is the *signature block*
under the name (title, company, address, phone, e-mail, a '-- ' signature, "Sent from my…"),
kept apart in `signature`; the closing is also given apart, in `closing`, for display.

Works on lines, never on the whole body with one regex, so a 1 MB line cannot make a pattern
backtrack for minutes: every pattern is anchored at the start of a short line, and lines longer
than `LONG_LINE` are never taken for a marker. The quoted message that the person answered is
returned separately as `previous_context` (the model sees it when it learns to write replies).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

LONG_LINE = 400
"""Markers, header lines and sign-offs are short; longer lines are always content."""
SIGNOFF_SCAN = 8
"""Non-blank lines at the end looked at for a sign-off block."""
MAX_PREVIOUS_CHARS = 20_000

_ORIGINAL = re.compile(
    r"\s*_{3,}\s*reply separator\s*_{3,}\s*$|"
    r"\s*-{2,}\s*(original message|original appointment|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale|oorspronkelijk bericht)\s*-{2,}\s*$",
    re.I,
)
_FORWARD = re.compile(
    r"\s*(-{2,}\s*forwarded (by|message)\b|begin forwarded message\s*:?\s*$|-{2,}\s*weitergeleitete nachricht|"
    r"-{2,}\s*message transféré)",
    re.I,
)
_ATTRIBUTION_START = re.compile(r"\s*(on|le|am|el|il|op)\s\S", re.I)
_ATTRIBUTION_END = re.compile(r"(wrote|writes|a écrit|schrieb|escribió|ha scritto|schreef)\s*:\s*$", re.I)
_HEADER = re.compile(
    r"\s*\*?(from|sent|date|to|cc|bcc|subject|author|importance|reply-to|attachments|sensitivity|de|von|envoyé|"
    r"gesendet|an|à|objet|betreff|asunto|para|enviado)\*?\s*:",
    re.I,
)
_FROM_HEADER = re.compile(r"\s*\*?(from|de|von)\*?\s*:\s*\S", re.I)
_REPLY_HEADER = re.compile(
    r"\s*\*?(sent|date|to|subject|cc|envoyé|gesendet|an|à|objet|betreff|asunto|para|enviado)\*?\s*:", re.I
)
_NOTES_DATE = re.compile(r"\s*\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(:\d{2})?(\s*[AP]M)?\s*$", re.I)
_NOTES_NAME = re.compile(r"\s*[^:<>\s][^:<>]{0,80}@[A-Za-z][A-Za-z.-]{0,60}\s*$")
_QUOTED = re.compile(r"\s{0,3}>")
_PLACEHOLDER = re.compile(
    r"\s*(-\s*[^<>\n]{1,200}?\s*)?(<<[^<>]{0,300}>>|<embedded [^<>]{0,200}>|\[(image|cid|inline)[^\]]{0,300}\])\s*$"
    r"|\s*-\s*[\w .()&'-]{1,100}\.(jpe?g|gif|png|bmp|tiff?|docx?|xlsx?|pptx?|pdf|txt|zip|mp3|wav|avi|mpe?g|html?)\s*$",
    re.I,
)
_MOBILE = re.compile(
    r"\s*(sent from my ([\w&.-]+ ){0,3}(iphone|ipad|android|samsung|galaxy|blackberry|windows phone|huawei|mobile|"
    r"phone|verizon|t-mobile|sprint|xperia|pixel|lg|htc|nokia|kindle|tablet|smartphone|device|motorola|oneplus|"
    r"xiaomi|wireless)\b[^\n]{0,40}|get outlook for \S+|sent from (yahoo|mail|outlook|gmail|proton)[^\n]{0,40}|"
    r"sent (via|using|with) (my |the )?(blackberry|outlook|mail|gmail|yahoo|superhuman|spark|proton|samsung|android|"
    r"iphone|ipad|mobile|aol)\b[^\n]{0,30})\s*$",
    re.I,
)
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]"
)
_DECORATION = re.compile(r"\s*[_=*~#+-]{4,}\s*$")
_SIG_DELIMITER = re.compile(r"--\s?$")
_PHONE = re.compile(r"(\+?\d[\d ().-]{6,}\d)|(\b(x|ext\.?)\s?\d{3,6}\b)", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_URL = re.compile(r"(https?://|www\.)\S+", re.I)
_WORD = re.compile(r"[^\W\d_]+(?:['’.-][^\W\d_]+)*\.?", re.UNICODE)

VALEDICTIONS = (
    "thanks",
    "thank you",
    "thanks again",
    "thanks so much",
    "thanks a lot",
    "many thanks",
    "thx",
    "tx",
    "ty",
    "regards",
    "best regards",
    "kind regards",
    "warm regards",
    "warmest regards",
    "best wishes",
    "best",
    "all the best",
    "cheers",
    "sincerely",
    "yours",
    "yours truly",
    "yours sincerely",
    "respectfully",
    "take care",
    "talk soon",
    "talk to you soon",
    "talk to ya soon",
    "later",
    "see ya",
    "see you",
    "gracias",
    "love",
    "hugs",
    "ciao",
    "peace",
    "rgds",
    "br",
    "cordially",
    "with thanks",
    "thanks much",
    "much appreciated",
    "have a good one",
    "have a great day",
    "have a nice day",
    "be well",
    "be careful",
    "be carefull",
    "enjoy",
    "good luck",
    "merci",
    "danke",
    "grüße",
    "saludos",
    "thank u",
    "viele grüße",
    "liebe grüße",
    "beste grüße",
    "freundliche grüße",
    "mit freundlichen grüßen",
    "lg",
    "mfg",
    "vg",
    "cordialement",
    "bien cordialement",
    "bien à vous",
    "bises",
    "amitiés",
    "à bientôt",
    "saludos cordiales",
    "un saludo",
    "un abrazo",
    "atentamente",
    "cordiali saluti",
    "saluti",
    "un abbraccio",
    "groeten",
    "met vriendelijke groet",
    "hartelijke groeten",
    "hälsningar",
    "med vänlig hälsning",
    "mvh",
    "vänliga hälsningar",
    "obrigado",
    "obrigada",
    "abraços",
    "atenciosamente",
)
_VALEDICTION = re.compile(
    r"\s*(" + "|".join(re.escape(v) for v in sorted(VALEDICTIONS, key=len, reverse=True)) + r")\b[\s,.!:;-]*$",
    re.I,
)
_CLOSING_FORMULA = re.compile(
    r"\s*(thanks|thank you|many thanks|thx|tx|regards|best regards|kind regards|warm regards|best|cheers|"
    r"sincerely|rgds|br)\b[\s,.!]*$",
    re.I,
)
_NAME_SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "phd", "md", "mr", "mrs", "ms", "dr"}

_DISCLAIMER_STRONG = re.compile(
    r"intended recipient|intended solely for|intended only for|confidentiality notice|"
    r"received this (e-?mail|message|communication|transmission)[^\n.]{0,40} in error|"
    r"this (e-?mail|message)[^\n.]{0,60}(is|are|may be|may contain)[^\n.]{0,20}(confidential|privileged)|"
    r"property of [^\n.]{0,80} and may contain confidential",
    re.I,
)
_DISCLAIMER_HINT = re.compile(
    r"mailing list|listinfo|unsubscribe|confiden|privileg|intended|prohibit|unauthori|disclaim|virus|notify|delete|legally|offer|propert",
    re.I,
)
_LIST_FOOTER_LINK = re.compile(
    r"/listinfo/|/mailman/|you received this message because you are subscribed|to unsubscribe from this group|"
    r"^\s*to unsubscribe,? (send|visit|e-?mail)",
    re.I | re.M,
)
_DISCLAIMER_WEAK = re.compile(
    r"confidential|privileged|strictly prohibited|unauthori[sz]ed|disclaimer|do not necessarily (reflect|represent)|"
    r"virus|delete (it|this|all copies)|notify the sender|legally binding|not intended to be an offer",
    re.I,
)


@dataclass(frozen=True)
class CleanedBody:
    """The person's words, and what was cut away from them."""

    text: str
    """The person's words: greeting, body and closing (valediction and name)."""
    previous_context: str | None = None
    closing: str | None = None
    """The closing at the end of `text` (also part of it), apart for display."""
    signature: str | None = None
    """The signature block cut from under the closing (title, company, phone, '-- ' block, "Sent from my…")."""
    quoted: bool = False
    """A reply quote was found (Original Message, On … wrote:, header block or '>' lines)."""
    forwarded: bool = False
    """A forward marker was found: with no text of the person's own, the message is forward-only."""


@dataclass(frozen=True)
class SenderNames:
    """Name tokens and initials of the sender, for telling a sign-off from a sentence."""

    tokens: frozenset[str] = frozenset()
    initials: frozenset[str] = frozenset()

    @classmethod
    def from_identity(cls, address: str | None = None, display_names: Iterable[str | None] = ()) -> SenderNames:
        tokens: set[str] = set()
        initials: set[str] = set()
        for display in display_names:
            if not display:
                continue
            ordered = _name_order(display)
            tokens.update(w for w in ordered if len(w) > 1)
            _add_initials(ordered, initials)
        if address and "@" in address:
            local = address.split("@", 1)[0]
            parts = [p for p in re.split(r"[._+-]+", local.lower()) if p.isalpha()]
            tokens.update(p for p in parts if len(p) > 1)
            _add_initials([p for p in parts if p], initials)
        return cls(frozenset(tokens), frozenset(initials))

    def __bool__(self) -> bool:
        return bool(self.tokens)


def _name_order(display: str) -> list[str]:
    """`Allen, Phillip K.` -> [phillip, k, allen]; `Phillip K Allen` stays in order."""
    display = re.sub(r"[<(\[].*", "", display)  # drop addresses and comments
    if "," in display:
        last, _, first = display.partition(",")
        display = f"{first} {last}"
    words = [w.strip(".'\"").lower() for w in display.split()]
    return [w for w in words if w and w.isalpha() and w not in _NAME_SUFFIXES]


def _add_initials(ordered: list[str], initials: set[str]) -> None:
    if not ordered:
        return
    initials.add(ordered[0][0])
    if len(ordered) >= 2:
        initials.add(ordered[0][0] + ordered[-1][0])
        initials.add("".join(w[0] for w in ordered))


def clean_body(body: str, names: SenderNames = SenderNames(), *, email_like: bool = True) -> CleanedBody:
    """Split a body into the person's text, the previous message and the sign-off.

    `email_like=False` (posts, reviews) still drops '-- ' signatures, placeholders and
    disclaimers, but does not look for reply markers.
    """
    lines = normalise_lines(body)
    cut, kind = _find_cut(lines) if email_like else (len(lines), None)
    written, quoted_part = lines[:cut], lines[cut:]
    previous = _previous_message(quoted_part) if quoted_part else None

    kept: list[str] = []
    inline_quotes: list[str] = []
    sent_from: list[str] = []
    for index, line in enumerate(written):
        if email_like and len(line) < LONG_LINE and _QUOTED.match(line):
            inline_quotes.append(_dequote(line))
            continue
        if (
            email_like
            and _is_attribution(written, index)
            and any(len(l) < LONG_LINE and _QUOTED.match(l) for l in written[index + 1 : index + 4])
        ):
            continue
        if len(line) < LONG_LINE and _MOBILE.match(line):
            sent_from.append(line.strip())
            continue
        if len(line) < LONG_LINE and _PLACEHOLDER.match(line):
            continue
        kept.append(line)
    if not previous and inline_quotes:
        previous = _tidy("\n".join(q for q in inline_quotes if not _QUOTED.match(q)))

    kept, pasted, lifted = _cut_pasted_after_signoff(kept, names) if email_like else (kept, [], [])
    if pasted and not previous:
        previous = _tidy("\n".join(pasted)) or None
    kept, delimited = _cut_signature_delimiter(kept)
    kept = _cut_disclaimer(kept)
    kept = _strip_trailing_decoration(kept)
    closing_lines: list[str] = lifted
    signature_lines: list[str] = []
    if email_like:
        kept, signoff_lines = _split_signoff(kept, names)
        ending, signature_lines = split_closing(signoff_lines, names)
        if ending:
            kept = kept + ending
            closing_lines = ending
    signature = _tidy("\n".join([*signature_lines, *([delimited] if delimited else []), *sent_from])) or None
    return CleanedBody(
        text=_tidy("\n".join(kept)),
        previous_context=(previous[:MAX_PREVIOUS_CHARS] or None) if previous else None,
        closing=_tidy("\n".join(closing_lines)) or None,
        signature=signature,
        quoted=kind in ("original", "attribution", "header") or bool(inline_quotes),
        forwarded=kind == "forward",
    )


def split_closing(signoff: list[str], names: SenderNames = SenderNames()) -> tuple[list[str], list[str]]:
    """(closing, signature) of a sign-off block: the valediction and name, then what sits under the name.

    `Thanks,` / `Theresa Staab` / `(303) 575-6485` -> closing `Thanks,\nTheresa Staab`, signature
    the phone line. A block with no name line (`Thanks.`) is all closing.
    """
    lines = [line for line in signoff]
    filled = [index for index, line in enumerate(lines) if line.strip()]
    if not filled:
        return [], []
    first = lines[filled[0]].strip()
    if _valediction_with_name(first, names):
        end = filled[0]
    elif _is_valediction(first):
        second = lines[filled[1]].strip() if len(filled) > 1 else ""
        end = filled[1] if second and _is_name_line(second, names, after_valediction=True, loose=True) else filled[0]
    elif _is_name_line(first, names, after_valediction=True) or len(filled) == 1:
        end = filled[0]
    else:
        return [], lines[filled[0] :]
    closing = [line for line in lines[filled[0] : end + 1]]
    return closing, [line for line in lines[end + 1 :] if line.strip()]


def normalise_lines(text: str) -> list[str]:
    """Unix newlines, no control characters, no trailing spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _INVISIBLE.sub("", text)
    return [line.rstrip() for line in text.split("\n")]


def normalise_for_hash(text: str) -> str:
    """Case, spacing and Unicode form do not make two texts different."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


# -- finding where the quoted part starts --------------------------------------------------


def _find_cut(lines: list[str]) -> tuple[int, str | None]:
    last_unquoted = max(
        (i for i, l in enumerate(lines) if l.strip() and not (len(l) < LONG_LINE and _QUOTED.match(l))), default=-1
    )
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        short = len(line) < LONG_LINE
        if short and _ORIGINAL.match(line):
            return index, "original"
        if short and _FORWARD.match(line):
            return index, "forward"
        if short and _is_attribution(lines, index) and _quote_below(lines, index, last_unquoted):
            return index, "attribution"
        start = _header_block_start(lines, index)
        if start is not None:
            return start, "header"
        if short and index > last_unquoted and _QUOTED.match(line):
            return index, "attribution"  # a '>' block that runs to the end: a bottom quote
    return len(lines), None


def _is_attribution(lines: list[str], index: int) -> bool:
    """`On Mon, 1 Jan 2001, Ann <a@b> wrote:` over up to three lines, or `Ann wrote:`."""
    line = lines[index]
    if not line or len(line) >= LONG_LINE:
        return False
    if line.endswith(":") and _ATTRIBUTION_END.search(line):  # lines are right-stripped
        return bool(_ATTRIBUTION_START.match(line)) or len(line) < 120
    if _ATTRIBUTION_START.match(line):
        joined = line
        for follow in lines[index + 1 : index + 3]:
            if len(follow) >= LONG_LINE:
                return False
            joined += " " + follow
            if follow.endswith(":") and _ATTRIBUTION_END.search(follow):
                return len(joined) < 300
    return False


def _quote_below(lines: list[str], index: int, last_unquoted: int) -> bool:
    """An attribution starts the quoted part when what follows is either one '>' block to the
    end, or not '>'-quoted at all (clients that quote without '>'). '>' lines mixed with
    unquoted ones are inline answers: the person's lines stay."""
    end = index
    while end < min(len(lines), index + 3) and not (
        lines[end].endswith(":") and _ATTRIBUTION_END.search(lines[end][:LONG_LINE])
    ):
        end += 1
    following = next((l for l in lines[end + 1 :] if l.strip()), None)
    if following is None:
        return False
    if len(following) < LONG_LINE and _QUOTED.match(following):
        return end >= last_unquoted
    return True


def _header_block_start(lines: list[str], index: int) -> int | None:
    """Outlook `From:/Sent:/To:/Subject:` blocks (even with the From label lost), a lone
    header line over a '>' quote, and Lotus Notes `Name@ORG / date / To: / cc:` blocks."""
    line = lines[index][:LONG_LINE]
    if _REPLY_HEADER.match(line) or _FROM_HEADER.match(line):
        window = [l[:LONG_LINE] for l in lines[index + 1 : index + 6] if l.strip()][:3]
        headers = sum(1 for l in window if _HEADER.match(l))
        if re.match(r"\s*to\s*:", line, re.I) and not _FROM_HEADER.match(line):
            if not headers:
                return None
            notes = _notes_block_start(lines, index)
            if notes is not None:
                return notes
            # `To:` over cc/Subject/Sent (the From line lost or elsewhere): a quoted header block all the same.
            return index if headers >= 2 else None
        if headers >= 1 or (window and _QUOTED.match(window[0])):
            start = index
            above = lines[index - 1][:LONG_LINE] if index else ""
            if above.strip() and ("mailto:" in above or re.match(r"\s*:\s*\S+@", above)):
                start = index - 1  # `: ann@x.com [mailto:…]`, a From line that lost its label
            return start
        return None
    if len(lines[index]) < 2000 and re.search(r"\sTo:\s", line) and re.search(r"\s(cc|Subject):", lines[index]):
        return index  # Notes squeezes the whole header onto one line
    return None


def _notes_block_start(lines: list[str], index: int) -> int | None:
    """`To:` with cc/Subject below counts as a header block only under a Notes name/date."""
    start = index
    for back in range(index - 1, max(-1, index - 5), -1):
        previous = lines[back]
        if not previous.strip():
            continue
        if _NOTES_DATE.match(previous[:LONG_LINE]) or (len(previous) < 120 and _NOTES_NAME.match(previous)):
            start = back
            continue
        break
    return start if start < index else None


# -- the previous message ------------------------------------------------------------------


def _previous_message(quoted: list[str]) -> str | None:
    """The message directly replied to: skip the marker and its headers, stop at the next one."""
    index = 0
    if quoted and (_ORIGINAL.match(quoted[0]) or _FORWARD.match(quoted[0])):
        index = 1
    elif quoted and _is_attribution(quoted, 0):
        index = 1
        while index < len(quoted) and index < 3 and not _ATTRIBUTION_END.search(quoted[index - 1]):
            index += 1
    while index < len(quoted):
        line = quoted[index]
        if (
            not line.strip()
            or _HEADER.match(line[:LONG_LINE])
            or "mailto:" in line[:LONG_LINE]
            or _NOTES_DATE.match(line)
            or (len(line) < 120 and _NOTES_NAME.match(line))
            or _FORWARD.match(line)
        ):
            index += 1
            continue
        break
    body: list[str] = []
    depth_one = any(_QUOTED.match(l) for l in quoted[index : index + 3] if len(l) < LONG_LINE)
    for offset, line in enumerate(quoted[index:], start=index):
        short = len(line) < LONG_LINE
        if short and (_ORIGINAL.match(line) or _FORWARD.match(line)):
            break
        if short and _header_block_start(quoted, offset) is not None:
            break
        if depth_one:
            if line.strip() and not _QUOTED.match(line):
                break
            line = _dequote(line)
            if _QUOTED.match(line) or (short and _is_attribution([line], 0)):
                continue
        elif short and _QUOTED.match(line):
            continue
        if short and (_PLACEHOLDER.match(line) or _MOBILE.match(line)):
            continue
        body.append(line)
    body = _strip_trailing_decoration(_cut_disclaimer(_cut_signature_delimiter(body)[0]))
    return _tidy("\n".join(body)) or None


def _dequote(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith(">"):
        stripped = stripped[1:]
        if stripped.startswith(" "):
            stripped = stripped[1:]
    return stripped


# -- signatures, disclaimers, sign-offs ------------------------------------------------------


def _cut_signature_delimiter(lines: list[str]) -> tuple[list[str], str | None]:
    """The '-- ' line that mail clients put above a signature: everything below is signature."""
    for index in range(len(lines) - 1, -1, -1):
        if _SIG_DELIMITER.fullmatch(lines[index]) and index > 0:
            tail = lines[index + 1 :]
            if len([l for l in tail if l.strip()]) <= 12:
                return lines[:index], _tidy("\n".join(tail)) or None
    return lines, None


def _cut_disclaimer(lines: list[str]) -> list[str]:
    """Drop the first legal-disclaimer paragraph and everything after it."""
    start = 0
    paragraphs: list[tuple[int, str]] = []
    for index, line in enumerate(lines + [""]):
        if not line.strip():
            if index > start:
                paragraphs.append((start, "\n".join(lines[start:index])))
            start = index + 1
    for begin, paragraph in paragraphs:
        sample = paragraph[:4000]
        if not _DISCLAIMER_HINT.search(sample):
            continue
        strong = _DISCLAIMER_STRONG.search(sample)
        weak = len(_DISCLAIMER_WEAK.findall(sample))
        if _is_list_footer(paragraph) or (strong and weak >= 1) or weak >= 3:
            return lines[:begin]
    return lines


def _is_list_footer(paragraph: str) -> bool:
    """Mailman/Google Groups footers: a rule line then `… mailing list`, or a listinfo or
    unsubscribe link. A sentence that merely mentions a mailing list is not one."""
    if _LIST_FOOTER_LINK.search(paragraph[:4000]):
        return True
    first, _, rest = paragraph.partition("\n")
    return bool(_DECORATION.match(first) and "mailing list" in rest[:400].lower())


def _strip_trailing_decoration(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and (
        not lines[end - 1].strip() or (len(lines[end - 1]) < LONG_LINE and _DECORATION.match(lines[end - 1]))
    ):
        end -= 1
    return lines[:end]


def _split_signoff(lines: list[str], names: SenderNames) -> tuple[list[str], list[str]]:
    """Find `Thanks,\nBill\nTitle\nphone` at the end; return (body, sign-off lines).

    A name line starts a sign-off when it is the sender's name (or, right under a closing
    like `Thanks,`, any short capitalised name). Lines under it must look like a signature:
    contact details always, titles only when the block is set apart (closing or blank line),
    so that a list of names at the end of a message is not taken for a signature.
    """
    lines = _strip_trailing_decoration(lines)
    tail = [i for i in range(len(lines)) if lines[i].strip()][-SIGNOFF_SCAN:]
    if not tail:
        return lines, []
    for position in range(len(tail) - 1, -1, -1):
        index = tail[position]
        line = lines[index].strip()
        below = [lines[i].strip() for i in tail[position + 1 :]]
        if len(below) > 6 or not all(_is_contact_or_title(l) for l in below):
            break
        previous = lines[tail[position - 1]].strip() if position > 0 else None
        after_valediction = previous is not None and bool(previous) and _is_valediction(previous)
        set_apart = after_valediction or (index > 0 and not lines[index - 1].strip())
        if not set_apart and not all(_is_contact(l) for l in below):
            continue
        if _valediction_with_name(line, names):
            start = index
        elif _is_name_line(line, names, after_valediction, loose=set_apart):
            start = tail[position - 1] if after_valediction else index
        elif not below and _is_lone_name(lines, index):
            start = index
        else:
            continue
        if any(lines[i].strip() for i in range(start)):
            return lines[:start], lines[start:]
        return lines, []  # the whole message is a sign-off: keep it
    last = tail[-1]
    closing = lines[last].strip()
    if len(tail) > 1 and _VALEDICTION.match(closing) and (closing.endswith(",") or _CLOSING_FORMULA.match(closing)):
        return lines[:last], lines[last:]  # `Thanks.` alone; `Talk to you soon.` is a sentence and stays
    return lines, []


def _cut_pasted_after_signoff(lines: list[str], names: SenderNames) -> tuple[list[str], list[str], list[str]]:
    """`Thanks,\nBill`, a blank line, then text pasted below it (a note being passed on):
    the person's message ends at their own sign-off. A P.S. stays theirs."""
    if not names:
        return lines, [], []
    for index in range(1, len(lines) - 2):
        if len(lines[index]) > 40 or not lines[index].strip() or lines[index + 1].strip():
            continue
        above = [l.strip() for l in lines[max(0, index - 2) : index] if l.strip()]
        if not above or not _is_valediction(above[-1]):
            continue
        if not _is_name_line(lines[index].strip(), names, after_valediction=False):
            continue
        rest = [l.strip() for l in lines[index + 2 :] if l.strip()]
        signature_below = len(rest) <= 6 and all(_is_contact_or_title(l) for l in rest)
        if not rest or signature_below:
            continue
        if re.match(r"p\.?\s?s\b", rest[0], re.I):
            # `Thanks,\nAnn\n\nP.S. …`: the P.S. is theirs, and so is the closing above it (given apart too).
            start = index - 1 if lines[index - 1].strip() else index - 2
            return lines, [], lines[start : index + 1]
        return lines[: index + 1], lines[index + 1 :], []
    return lines, [], []


def _is_valediction(line: str) -> bool:
    if len(line) > 60:
        return False
    if _VALEDICTION.match(line):
        return True
    words = line.split()
    return 1 <= len(words) <= 6 and line.endswith(",") and not line.endswith(",,")


def _valediction_with_name(line: str, names: SenderNames) -> bool:
    """`Thanks, Bill` or `Regards - Theresa` on one line."""
    if len(line) > 60 or not names:
        return False
    match = re.match(r"\s*(.{2,40}?)[,;:-]+\s*(\S.{0,30})$", line)
    if not match or not _VALEDICTION.match(match.group(1) + ","):
        return False
    return _is_name_line(match.group(2), names, after_valediction=False)


def _is_name_line(line: str, names: SenderNames, after_valediction: bool, loose: bool = False) -> bool:
    """The sender's name or initials (`Bill`, `Phillip K. Allen`, `DB`); with `loose`, one
    unknown word is allowed (a middle name); right after a closing, any short capitalised name."""
    if not line or len(line) > 40 or any(ch.isdigit() for ch in line):
        return False
    words = _WORD.findall(line)
    leftover = _WORD.sub("", line)
    if not words or len(words) > 4 or re.search(r"[^\s,.!:;'\"()~–—-]", leftover):
        return False
    lowered = [w.strip(".").lower() for w in words]
    if names:
        letters = {t[0] for t in names.tokens} | {i[0] for i in names.initials}
        known = [
            w in names.tokens or w in names.initials or w in _NAME_SUFFIXES or (len(w) == 1 and w in letters)
            for w in lowered
        ]
        if any(w in names.tokens or w in names.initials for w in lowered):
            unknown = known.count(False)
            if unknown == 0 or (loose and unknown == 1 and all(w[0].isupper() for w in words)):
                return True
    if after_valediction and len(words) <= 3 and not line.rstrip().endswith(("?", "!")):
        return all(w[0].isupper() for w in words)
    return False


def _is_lone_name(lines: list[str], index: int) -> bool:
    """A single capitalised word on the last line, set apart by a blank line after a finished
    sentence: how people sign with a nickname or a misspelt name (`Keith`, `Philip`)."""
    line = lines[index].strip()
    if not re.fullmatch(r"[A-Z][a-z]{1,11}\.?", line) or _VALEDICTION.match(line):
        return False
    if index < 2 or lines[index - 1].strip():
        return False
    above = next((l.strip() for l in reversed(lines[: index - 1]) if l.strip()), "")
    return above.endswith((".", "!", "?", ")"))


def _is_contact(line: str) -> bool:
    return len(line) <= 100 and bool(_PHONE.search(line) or _EMAIL.search(line) or _URL.search(line))


def _is_contact_or_title(line: str) -> bool:
    """Lines that sit under a name in a signature: phone, address, title, company."""
    if len(line) > 100:
        return False
    if _PHONE.search(line) or _EMAIL.search(line) or _URL.search(line):
        return True
    words = line.split()
    return len(words) <= 8 and not line.endswith(("?", "!", ":")) and line.count(". ") == 0


def _tidy(text: str) -> str:
    """At most one blank line in a row; no blank lines at either end."""
    lines = text.split("\n")
    out: list[str] = []
    blank = False
    for line in lines:
        if line.strip():
            out.append(line)
            blank = False
        elif out and not blank:
            out.append("")
            blank = True
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)
