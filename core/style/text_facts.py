"""Facts of one text, measured by code: greeting, closing, lengths, habits, genre marks.

Pure functions over strings, no model and no store. The greeting and the closing are read
from the text itself; a closing that the email cleaner moved to the `signoff` field (pa
before the cleaner kept it in the text) is read from there, so both forms of a stored
document give the same facts. Word counts are of the body: the text without its greeting
and closing lines, which is what a length rule talks about.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

FACTS_VERSION = 2
"""Bumped when an extractor changes; stored facts of an older version are measured again."""

# -- greeting --------------------------------------------------------------------------------

_GREETING_WORDS = (
    r"good\s+morning|good\s+afternoon|good\s+evening|morning|hi\s+there|hello\s+there|"
    r"hi|hello|hey|heya|hiya|howdy|dear|greetings|yo"
)
_GREETING = re.compile(
    rf"^(?P<word>{_GREETING_WORDS})\b(?P<name>(?:[ \t]+(?:\[[^\]\n]{{1,30}}\]|(?!(?:i|we|just|thanks|thank|please)\b)[A-Za-z][\w.'&-]*)){{0,3}}?)"
    r"[ \t]*(?P<punct>[,:!.;\u2013\u2014-]+|$)",
    re.IGNORECASE,
)
_BARE_NAME_GREETING = re.compile(
    r"^(?P<name>[A-Z][a-z'-]+(?:\s[A-Z][a-z'-]+)?|[A-Z]{2,3})[ \t]*(?P<punct>[,:\u2013\u2014-]+)[ \t]*$"
)
GROUP_WORDS = frozenset(
    {"all", "everyone", "everybody", "team", "guys", "folks", "there", "y'all", "gang", "both", "ladies", "gentlemen"}
)
_GROUP_GREETING = re.compile(
    r"^(?P<name>all|everyone|team|folks|guys)[ \t]*(?P<punct>[,:!\u2013\u2014-]+)[ \t]*$", re.IGNORECASE
)

# -- closing ---------------------------------------------------------------------------------

_VALEDICTIONS = (
    r"thanks(?:\s+(?:again|so\s+much|very\s+much|a\s+lot|in\s+advance|all))?|thank\s+you(?:\s+(?:again|so\s+much|very\s+much))?|"
    r"many\s+thanks|thx|tx|tks|ta|cheers|regards|best\s+regards|kind\s+regards|warm\s+regards|warmest\s+regards|"
    r"best\s+wishes|all\s+the\s+best|best|sincerely(?:\s+yours)?|yours(?:\s+(?:truly|sincerely))?|respectfully|"
    r"take\s+care|talk\s+(?:to\s+you\s+)?soon|later|love|rgds|ciao|see\s+you|peace|hugs|xo+|with\s+thanks"
)
_VALEDICTION_LINE = re.compile(
    rf"^(?P<val>(?:{_VALEDICTIONS}))(?P<punct>[ \t]*[,.!:;\u2013\u2014-]*)[ \t]*$", re.IGNORECASE
)
_VALEDICTION_WITH_NAME = re.compile(
    rf"^(?P<val>(?:{_VALEDICTIONS}))(?P<punct>[ \t]*[,.!:;\u2013\u2014-]+)[ \t]*(?P<name>[A-Za-z][\w.'-]*(?:\s[A-Za-z][\w.'-]*)?)[ \t]*$",
    re.IGNORECASE,
)
_NAME_LINE = re.compile(
    r"^[-~\u2013\u2014\s]*(?P<name>[A-Z][\w.'-]*(?:\s[A-Z][\w.'-]*){0,2}|[A-Za-z]{1,3}|[a-z][a-z'-]+)[ \t]*$"
)

# -- habits ----------------------------------------------------------------------------------

_WORD = re.compile(r"\d+(?:[.,]\d+)+|[A-Za-z0-9]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])[\"')\]]*\s+|\n\s*\n")
_LOWER_I = re.compile(r"(?<![\w'.])i(?=['\s,.!?;:]|$)(?!\.e\.)", re.MULTILINE)
_UPPER_I = re.compile(r"(?<![\w'.])I(?=['\s,.!?;:]|$)", re.MULTILINE)
_ELLIPSIS = re.compile(r"\.\.\.+|\u2026")
_EMOJI = re.compile("[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff]")
_EMOTICON = re.compile(r"(?<!\w)[:;=8][-']?[)(DPp/\\|]|<3|\^\^|\bxD\b")
_CONTRACTION = re.compile(
    r"\b(?:[A-Za-z]+n't|(?:I|you|we|they|he|she|it|that|there|what|who|where|here|let)'(?:s|re|ll|ve|m|d))\b",
    re.IGNORECASE,
)
_EXPANDED = re.compile(
    r"\b(?:(?:do|does|did|is|are|was|were|have|has|had|would|could|should|will|can|must)\s+not|cannot|"
    r"I\s+am|I\s+will|you\s+are|we\s+are|they\s+are|it\s+is|that\s+is|let\s+us)\b",
    re.IGNORECASE,
)
_DASH = re.compile(r"\s[-\u2013\u2014]{1,2}\s|\u2014")
_SHOUT = re.compile(r"\b[A-Z]{3,}\b")
_ACRONYMS = frozenset(
    {
        "ASAP",
        "FYI",
        "USA",
        "CEO",
        "CFO",
        "NYC",
        "ENA",
        "EES",
        "FERC",
        "PDF",
        "URL",
        "FAQ",
        "EOD",
        "ETA",
        "TBD",
        "AM",
        "PM",
    }
)
FORMAL_MARKERS = (
    "please",
    "kindly",
    "regards",
    "sincerely",
    "furthermore",
    "however",
    "therefore",
    "would you",
    "could you",
    "i would appreciate",
    "please find",
    "attached please",
    "at your earliest convenience",
    "dear",
    "accordingly",
)
INFORMAL_MARKERS = (
    "hey",
    "yeah",
    "yep",
    "nope",
    "gonna",
    "wanna",
    "gotta",
    "lol",
    "thx",
    "btw",
    "fyi",
    "ok",
    "okay",
    "cool",
    "cheers",
    "awesome",
    "guys",
    "stuff",
    "kinda",
    "sorta",
    "haha",
)
_MARKER_PATTERNS = {
    m: re.compile(rf"(?<![\w']){re.escape(m)}(?![\w'])", re.IGNORECASE) for m in (*FORMAL_MARKERS, *INFORMAL_MARKERS)
}
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "they",
        "them",
        "their",
        "his",
        "her",
        "him",
        "us",
        "so",
        "not",
        "no",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "there",
        "here",
        "what",
        "which",
        "who",
        "when",
        "where",
        "how",
        "than",
        "then",
        "just",
        "also",
        "about",
        "up",
        "out",
        "into",
        "over",
    ]
)

# -- genre marks (posts and reviews) --------------------------------------------------------

_RATING = re.compile(
    r"\b\d+(?:\.\d)?\s*(?:/|out\s+of)\s*(?:5|10|100)\b|[\u2605\u2606]{1,5}|\b[1-5](?:\.5)?\s*stars?\b|\b(?:one|two|three|four|five)\s+stars?\b",
    re.IGNORECASE,
)
_RECOMMEND = re.compile(
    r"\b(?:recommend(?:ed)?|worth\s+(?:it|the|every)|avoid|skip\s+it|must[- ]see|must[- ]read|must[- ]have|disappoint(?:ed|ing)?)\b",
    re.IGNORECASE,
)
_SUPERLATIVE = re.compile(r"\b(?:best|worst|greatest|finest|most\s+\w+|least\s+\w+)\b", re.IGNORECASE)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+\S|[A-Z][^.!?\n]{0,80}$)")


@dataclass(frozen=True)
class Greeting:
    form: str
    """As written with the name replaced: `Hi NAME,`, `Dear NAME:`, `NAME,`, `Hi all,`."""
    name: str | None = None
    """The name greeted, as written (`Sam`), when there was one."""


@dataclass(frozen=True)
class Closing:
    valediction: str | None
    """As written, with its punctuation: `Thanks,`; None when the text ends with a name alone."""
    name: str | None
    """The name signed, as written: `Theresa`, `-T`, `phil`."""

    @property
    def form(self) -> str:
        return "\n".join(part for part in (self.valediction, self.name) if part)


@dataclass
class TextFacts:
    """What one text shows; stored as JSON per document (see `core.style.facts_store`)."""

    kind: str = "new"
    """reply | forward | new (emails); `post`/`review` for the other genres."""
    recipient: str | None = None
    greeting: str | None = None
    greeting_name: str | None = None
    valediction: str | None = None
    signed_name: str | None = None
    words: int = 0
    sentences: int = 0
    paragraphs: int = 0
    lines: int = 0
    wrapped_paragraphs: int = 0
    """Paragraphs written over more than one line (hard line breaks inside a paragraph)."""
    paragraph_words: list[int] = field(default_factory=list)
    exclamations: int = 0
    questions: int = 0
    ellipses: int = 0
    emoji: int = 0
    emoticons: int = 0
    lower_i: int = 0
    upper_i: int = 0
    lowercase_starts: int = 0
    """Sentences that begin with a lower-case letter."""
    shouting: int = 0
    """Words of three or more capitals that are not common acronyms."""
    dashes: int = 0
    contractions: int = 0
    expanded: int = 0
    """Forms a contraction could have shortened (`do not`, `I am`)."""
    opener: str | None = None
    """The first three words of the body, lower-cased."""
    phrases: list[str] = field(default_factory=list)
    """Distinct word trigrams of the body (lower-cased), for frequent phrases."""
    formal: dict[str, int] = field(default_factory=dict)
    informal: dict[str, int] = field(default_factory=dict)
    title_words: int | None = None
    title_case: str | None = None
    """title | sentence | lower | upper, of the subject/title/item field."""
    title_ends: str | None = None
    """The title's last character when it is punctuation (`?`, `!`, `.`)."""
    headline: bool = False
    """The text opens with a heading line (markdown `#` or a short unpunctuated line)."""
    ratings: int = 0
    recommend: int = 0
    superlatives: int = 0

    @property
    def closing_form(self) -> str | None:
        return Closing(self.valediction, self.signed_name).form or None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextFacts:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in data.items() if key in known})


# -- extractors ------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Unix newlines, straight apostrophes and quotes, no trailing spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2019", "'").replace("\u2018", "'")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def find_greeting(text: str) -> tuple[Greeting | None, str]:
    """(the greeting, the text after it). Only the first line is looked at: a greeting opens a text."""
    text = normalise(text)
    stripped = text.lstrip()
    first, _, rest = stripped.partition("\n")
    match = _GREETING.match(first)
    if match:
        name = match.group("name").strip() or None
        punct = _spaced(match.group("punct").strip())
        word = " ".join(match.group("word").split())
        after = first[match.end() :].strip()
        if name and name.lower() in GROUP_WORDS:
            form = f"{word} {name}{punct}"
            name = None
        else:
            form = f"{word}{' NAME' if name else ''}{punct}"
        body = f"{after}\n{rest}" if after else rest
        return Greeting(form, name), body.strip("\n")
    match = _GROUP_GREETING.match(first) or _BARE_NAME_GREETING.match(first)
    if match and rest.strip() and not _VALEDICTION_LINE.match(first):  # `Thanks,` opens no letter
        name = match.group("name")
        if name.lower() in GROUP_WORDS:
            return Greeting(f"{name}{_spaced(match.group('punct'))}"), rest.strip("\n")
        return Greeting(f"NAME{_spaced(match.group('punct'))}", name), rest.strip("\n")
    return None, text


def _spaced(punct: str) -> str:
    """`-` and dashes keep a space before them in a form (`Hi NAME -`); commas do not."""
    return f" {punct}" if punct[:1] in "-\u2013\u2014" and punct else punct


def find_closing(text: str, signoff: str | None = None) -> tuple[Closing | None, str]:
    """(the closing, the text before it): `Thanks,\\nTheresa` at the end of the text, else at
    the start of `signoff` (the cleaner's field for it), else None."""
    text = normalise(text)
    lines = text.split("\n")
    found = _closing_at_end(lines)
    if found is not None:
        closing, start = found
        return closing, "\n".join(lines[:start]).rstrip()
    if signoff and signoff.strip():
        at_start = _closing_at_start(normalise(signoff).split("\n"))
        if at_start is not None:
            return at_start, text
    return None, text


SIGNOFF_BLOCK_LINES = 6
"""Lines a written sign-off block may have under its valediction (name, title, company, a P.S.)."""


def text_above_signoff_block(text: str) -> str | None:
    """The text above its sign-off block, when `text` ends with a valediction line followed by
    at most `SIGNOFF_BLOCK_LINES` lines that are shorter, all together, than the text above it:
    a model's "Best regards,\n[Your Name]\n[Your Title]\n\nP.S. ...", which `find_closing`
    (made for the person's cleaned texts) does not take whole. The last such valediction counts."""
    lines = normalise(text).split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for i in reversed(filled[-(SIGNOFF_BLOCK_LINES + 1) :]):
        line = lines[i].strip()
        if _VALEDICTION_LINE.match(line) or _VALEDICTION_WITH_NAME.match(line):
            above, under = "\n".join(lines[:i]).rstrip(), "\n".join(lines[i + 1 :]).strip()
            if i == filled[0] or len(under) >= len(above.strip()) or under.endswith("?"):
                return None
            return above
    return None


def _closing_at_end(lines: list[str]) -> tuple[Closing, int] | None:
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) < 2:
        return None
    last = filled[-1]
    line = lines[last].strip()
    if (match := _VALEDICTION_WITH_NAME.match(line)) and match.group("name").lower() not in GROUP_WORDS:
        return Closing(f"{match.group('val')}{match.group('punct').rstrip()}", match.group("name")), last
    if _VALEDICTION_LINE.match(line):
        return Closing(line, None), last
    previous = filled[-2]
    name = _NAME_LINE.match(line)
    if name and _VALEDICTION_LINE.match(lines[previous].strip()):
        return Closing(lines[previous].strip(), _signed(line)), previous
    if (
        len(filled) >= 3
        and name
        and _NAME_LINE.match(lines[previous].strip())
        and _VALEDICTION_LINE.match(lines[filled[-3]].strip())
    ):
        # `Thanks,\nPhillip\nAllen`: a two-line name.
        return Closing(lines[filled[-3]].strip(), f"{_signed(lines[previous])} {_signed(line)}"), filled[-3]
    if name and _looks_signed(line, lines[previous]):
        return Closing(None, _signed(line)), last
    return None


def _closing_at_start(lines: list[str]) -> Closing | None:
    filled = [line.strip() for line in lines if line.strip()][:3]
    if not filled:
        return None
    if match := _VALEDICTION_WITH_NAME.match(filled[0]):
        return Closing(f"{match.group('val')}{match.group('punct').rstrip()}", match.group("name"))
    if _VALEDICTION_LINE.match(filled[0]):
        name = _signed(filled[1]) if len(filled) > 1 and _NAME_LINE.match(filled[1]) else None
        return Closing(filled[0], name)
    if _NAME_LINE.match(filled[0]) and len(filled[0].split()) <= 3:
        return Closing(None, _signed(filled[0]))
    return None


def _signed(line: str) -> str:
    """The name as signed, keeping a leading dash (`-Phil` is a habit too)."""
    return line.strip()


def _looks_signed(line: str, previous: str) -> bool:
    """A short name line closing a text without a valediction: `...by Friday.\\nPhil`."""
    words = line.strip().lstrip("-~\u2013\u2014 ").split()
    if not 1 <= len(words) <= 2 or not all(w[:1].isupper() or len(w) <= 3 for w in words):
        return False
    return previous.rstrip().rstrip('"\u201d').endswith((".", "!", "?", ")", ":"))  # a quoted last sentence too


def words_of(text: str) -> list[str]:
    return _WORD.findall(text)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def sentences_of(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part and _WORD.search(part)]


def paragraphs_of(text: str) -> list[str]:
    return [part.strip("\n") for part in re.split(r"\n[ \t]*\n", text) if part.strip()]


def body_of(text: str, signoff: str | None = None) -> str:
    """The text without its greeting and closing: what lengths are measured on."""
    _, rest = find_greeting(text)
    _, body = find_closing(rest, signoff)
    return body.strip()


def kind_of(subject: str | None, previous: str | None, genre: str = "email") -> str:
    if genre != "email":
        return genre
    head = (subject or "").strip().lower()
    if head.startswith(("fw:", "fwd:", "fw :")):
        return "forward"
    if previous and previous.strip() or head.startswith(("re:", "aw:", "sv:", "re :")):
        return "reply"
    return "new"


def first_recipient(recipients: str | None) -> str | None:
    if not recipients:
        return None
    match = re.search(r"[\w.+'-]+@[\w.-]+", recipients)
    if match:
        return match.group(0).lower().strip(".")
    first = recipients.split(",")[0].strip().lower()
    return first or None


def title_case_of(title: str) -> str | None:
    letters = [w for w in words_of(title) if w[:1].isalpha()]
    if not letters:
        return None
    if all(w.isupper() for w in letters) and len(letters) > 1:
        return "upper"
    if all(w.islower() for w in letters):
        return "lower"
    long_words = [w for w in letters if len(w) > 3]
    if long_words and all(w[0].isupper() for w in long_words):
        return "title" if len(long_words) > 1 or len(letters) == 1 else "sentence"
    return "sentence"


def measure(
    text: str,
    *,
    signoff: str | None = None,
    subject: str | None = None,
    recipients: str | None = None,
    previous: str | None = None,
    genre: str = "email",
) -> TextFacts:
    """All facts of one text; the pure function every profile aggregate is built from."""
    greeting, rest = find_greeting(text) if genre == "email" else (None, normalise(text))
    closing, body = find_closing(rest, signoff) if genre == "email" else (None, rest)
    body = body.strip()
    paragraphs = paragraphs_of(body)
    sentences = sentences_of(body)
    words = words_of(body)
    lowered = body.lower()
    facts = TextFacts(
        kind=kind_of(subject, previous, genre),
        recipient=first_recipient(recipients),
        greeting=greeting.form if greeting else None,
        greeting_name=greeting.name if greeting else None,
        valediction=closing.valediction if closing else None,
        signed_name=closing.name if closing else None,
        words=len(words),
        sentences=len(sentences),
        paragraphs=len(paragraphs),
        lines=sum(1 for line in body.split("\n") if line.strip()),
        wrapped_paragraphs=sum(1 for p in paragraphs if "\n" in p.strip()),
        paragraph_words=[count_words(p) for p in paragraphs],
        exclamations=body.count("!"),
        questions=body.count("?"),
        ellipses=len(_ELLIPSIS.findall(body)),
        emoji=len(_EMOJI.findall(body)),
        emoticons=len(_EMOTICON.findall(body)),
        lower_i=len(_LOWER_I.findall(body)),
        upper_i=len(_UPPER_I.findall(body)),
        lowercase_starts=sum(1 for s in sentences if s[:1].islower()),
        shouting=sum(1 for w in _SHOUT.findall(body) if w not in _ACRONYMS),
        dashes=len(_DASH.findall(body)),
        contractions=len(_CONTRACTION.findall(body)),
        expanded=len(_EXPANDED.findall(body)),
        opener=" ".join(w.lower() for w in words[:3]) or None,
        phrases=_trigrams(words),
        formal=_markers(lowered, FORMAL_MARKERS),
        informal=_markers(lowered, INFORMAL_MARKERS),
    )
    if subject and subject.strip():
        title = re.sub(r"^\s*(?:re|fw|fwd|aw|sv)\s*:\s*", "", subject.strip(), flags=re.IGNORECASE)
        facts.title_words = count_words(title)
        facts.title_case = title_case_of(title)
        facts.title_ends = title[-1] if title and title[-1] in "?!." else None
    if genre != "email":
        first = body.split("\n", 1)[0]
        facts.headline = (
            bool(paragraphs)
            and len(paragraphs[0].split("\n")) == 1
            and bool(_HEADING.match(first))
            and count_words(first) <= 12
            and len(paragraphs) > 1
        )
        facts.ratings = len(_RATING.findall(body))
        facts.recommend = len(_RECOMMEND.findall(body))
        facts.superlatives = len(_SUPERLATIVE.findall(body))
    return facts


def _trigrams(words: list[str]) -> list[str]:
    lowered = [w.lower() for w in words]
    grams = {
        " ".join(lowered[i : i + 3])
        for i in range(len(lowered) - 2)
        if not all(w in STOPWORDS for w in lowered[i : i + 3])
    }
    return sorted(grams)


def _markers(lowered: str, markers: tuple[str, ...]) -> dict[str, int]:
    counts = {}
    for marker in markers:
        if marker in lowered:
            found = len(_MARKER_PATTERNS[marker].findall(lowered))
            if found:
                counts[marker] = found
    return counts
