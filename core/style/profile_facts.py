"""A profile's style facts: many `TextFacts` folded into counts, shares and length bands.

`ProfileFacts.of(texts)` is pure; `as_dict()` is what `pa style --json` prints and what
rules, checks and evaluation read. The questions the checker asks (`usual_greeting`,
`length_band`, `never`) answer only when the corpus shows a clear habit, so a person with
three emails is not held to a rule drawn from them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.style.phrasings import Phrasing
from core.style.text_facts import TextFacts

USUAL_SHARE = 0.5
"""A form is the person's habit when more than this share of their texts uses it."""
MIN_TEXTS = 5
"""Fewer texts than this (overall, or to one recipient) prove no habit."""
RECENT_AGREE = 3
"""When the person's last this-many sent texts (drafts they edited, or accepted, and sent)
agree on a form, it is their habit whatever their older texts say: a correction of pa's
draft is their newest word on the matter."""
RECENT_LENGTHS = 10
"""Once the person has sent `RECENT_AGREE` texts from pa's drafts, the length band comes from the
last this-many of them (at most): like a form their last sent texts agree on, their edits of
pa's finals are their newest word on length, whatever their older texts say."""
BAND_QUANTILES = (0.1, 0.9)
"""The length band: from the 10th to the 90th percentile of the person's word counts."""
BAND_SLACK = (0.8, 1.25)
"""The band is widened by these factors (and by at least 5 words each way): a text a little
outside the person's usual range is not a failure."""
TOP = 10

HABITS = (
    "exclamations",
    "questions",
    "ellipses",
    "emoji",
    "emoticons",
    "lower_i",
    "lowercase_starts",
    "shouting",
    "dashes",
)
HABIT_TITLES = {
    "exclamations": "exclamation marks (!)",
    "questions": "question marks (?)",
    "ellipses": "ellipses (...)",
    "emoji": "emoji",
    "emoticons": "emoticons (:) ;-))",
    "lower_i": 'lower-case "i" as a word',
    "lowercase_starts": "sentences starting lower-case",
    "shouting": "words in capitals",
    "dashes": "dashes ( - )",
}


def quantile(values: list[int] | list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted-or-not values (no numpy: this runs per import)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: list[int]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": round(sum(values) / len(values), 1),
        "median": quantile(values, 0.5),
        "p10": quantile(values, BAND_QUANTILES[0]),
        "p90": quantile(values, BAND_QUANTILES[1]),
        "min": min(values),
        "max": max(values),
    }


@dataclass(frozen=True)
class Band:
    """A range of word counts the person's texts usually fall in."""

    low: int
    high: int
    texts: int
    """How many texts it was measured on."""
    sent: bool = False
    """Measured on the person's last sent texts (`RECENT_LENGTHS`), not on their corpus."""

    def holds(self, words: int) -> bool:
        return self.low <= words <= self.high

    def distance(self, words: int) -> int:
        """Words outside the band (0 inside it)."""
        return max(self.low - words, words - self.high, 0)

    def describe(self) -> str:
        return f"{self.low}-{self.high} words"


@dataclass
class ProfileFacts:
    texts: list[TextFacts] = field(default_factory=list)
    """Every text measured: the imported ones, then the sent ones (`sent`)."""
    genre: str = "email"
    sent: list[TextFacts] = field(default_factory=list)
    """The texts the person sent from pa's drafts, oldest first (also in `texts`)."""
    phrasings: list[Phrasing] = field(default_factory=list)
    """Swaps the person makes when they edit pa's finals (`core.style.phrasings`)."""

    @classmethod
    def of(
        cls,
        texts: Iterable[TextFacts],
        genre: str = "email",
        sent: Iterable[TextFacts] = (),
        phrasings: Iterable[Phrasing] = (),
    ) -> ProfileFacts:
        sent = list(sent)
        return cls([*texts, *sent], genre, sent, list(phrasings))

    @property
    def count(self) -> int:
        return len(self.texts)

    def _subset(self, recipient: str | None = None, kind: str | None = None) -> list[TextFacts]:
        return [
            t
            for t in self.texts
            if (recipient is None or t.recipient == recipient) and (kind is None or t.kind == kind)
        ]

    # -- questions the checker and the rule checker ask ---------------------------------------

    def usual(self, attribute: str, recipient: str | None = None) -> tuple[str | None, int, int] | None:
        """(form, texts with it, texts) of the person's habit for `attribute` (greeting,
        closing_form, valediction, signed_name), to `recipient` when enough texts went to
        them, else overall; None when no form (None included: "no greeting") reaches
        more than `USUAL_SHARE` of at least `MIN_TEXTS` texts."""
        pools = []
        if recipient:
            pools.append(self._subset(recipient=recipient.lower()))
        pools.append(self.texts)
        for pool in pools:
            if len(pool) < MIN_TEXTS:
                continue
            counts = Counter(getattr(t, attribute) for t in pool)
            form, hits = counts.most_common(1)[0]
            if hits / len(pool) > USUAL_SHARE:
                return form, hits, len(pool)
            return None
        return None

    def latest(self, attribute: str, recipient: str | None = None) -> tuple[str | None] | None:
        """(form,) that the person's last `RECENT_AGREE` sent texts (to `recipient` when that
        many went to them, else to anyone) all share, None included ("no greeting"); None when
        they do not agree or there are fewer."""
        pools = [[t for t in self.sent if t.recipient == recipient.lower()]] if recipient else []
        pools.append(self.sent)
        for pool in pools:
            if len(pool) < RECENT_AGREE:
                continue
            forms = {getattr(t, attribute) for t in pool[-RECENT_AGREE:]}
            return (forms.pop(),) if len(forms) == 1 else None
        return None

    def forms(self, attribute: str) -> Counter[str | None]:
        return Counter(getattr(t, attribute) for t in self.texts)

    def length_band(self, kind: str | None = None, recipient: str | None = None) -> Band | None:
        """The 10th-90th percentile band of body words, widened by `BAND_SLACK`: from the person's
        last sent texts when there are enough (`RECENT_LENGTHS`), else for this recipient or kind
        when they have enough texts, else overall; None below `MIN_TEXTS` texts. Sent texts count
        from `RECENT_AGREE` on, as for the forms their last sent texts agree on."""
        pools = (
            self.sent[-RECENT_LENGTHS:],
            self._subset(recipient=recipient.lower()) if recipient else [],
            self._subset(kind=kind) if kind else [],
            self.texts,
        )
        for number, pool in enumerate(pools):
            if len(pool) >= (RECENT_AGREE if number == 0 else MIN_TEXTS):
                values = [t.words for t in pool]
                low, high = quantile(values, BAND_QUANTILES[0]), quantile(values, BAND_QUANTILES[1])
                return Band(
                    max(0, min(math.floor(low * BAND_SLACK[0]), math.floor(low) - 5)),
                    max(math.ceil(high * BAND_SLACK[1]), math.ceil(high) + 5),
                    len(pool),
                    sent=number == 0,
                )
        return None

    def texts_with(self, habit: str) -> int:
        return sum(1 for t in self.texts if getattr(t, habit))

    def never(self, habit: str) -> bool:
        """True when at least `MIN_TEXTS` texts and none of them shows the habit."""
        return self.count >= MIN_TEXTS and self.texts_with(habit) == 0

    def contraction_share(self) -> float | None:
        contracted = sum(t.contractions for t in self.texts)
        total = contracted + sum(t.expanded for t in self.texts)
        return contracted / total if total else None

    def names_signed(self) -> Counter[str]:
        return Counter(t.signed_name for t in self.texts if t.signed_name)

    # -- the summary ------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        n = self.count
        words = [t.words for t in self.texts]
        out: dict[str, Any] = {"texts": n, "sent_texts": len(self.sent), "genre": self.genre}
        out["phrasings"] = [{"old": p.old, "new": p.new, "edits": p.edits} for p in self.phrasings]
        if self.genre == "email":
            out["greeting"] = {
                "forms": _ranked(self.forms("greeting"), n),
                "by_recipient": self._by_recipient("greeting"),
                "usual": _usual(self.usual("greeting")),
                "latest": _latest(self.latest("greeting")),
            }
            out["closing"] = {
                "forms": _ranked(Counter(t.closing_form for t in self.texts), n),
                "valedictions": _ranked(self.forms("valediction"), n),
                "names": _ranked(self.forms("signed_name"), n),
                "usual": _usual(self.usual("closing_form")),
                "usual_valediction": _usual(self.usual("valediction")),
                "usual_name": _usual(self.usual("signed_name")),
                "latest": _latest(self.latest("closing_form")),
                "latest_valediction": _latest(self.latest("valediction")),
                "latest_name": _latest(self.latest("signed_name")),
            }
        band = self.length_band()
        out["length"] = {
            "words": distribution(words),
            "sentences": distribution([t.sentences for t in self.texts]),
            "paragraphs": distribution([t.paragraphs for t in self.texts]),
            "paragraph_words": distribution([w for t in self.texts for w in t.paragraph_words]),
            "band": {"low": band.low, "high": band.high, "texts": band.texts, "sent": band.sent} if band else None,
            "by_kind": {
                kind: distribution([t.words for t in self.texts if t.kind == kind])
                for kind in sorted({t.kind for t in self.texts})
            },
            "by_recipient": {
                recipient: distribution([t.words for t in self.texts if t.recipient == recipient])
                for recipient, _ in self._top_recipients()
            },
        }
        paragraphs = sum(t.paragraphs for t in self.texts)
        out["paragraphing"] = {
            "single_paragraph_texts": sum(1 for t in self.texts if t.paragraphs <= 1),
            "wrapped_paragraphs": sum(t.wrapped_paragraphs for t in self.texts),
            "paragraphs": paragraphs,
            "lines_per_paragraph": round(sum(t.lines for t in self.texts) / paragraphs, 2) if paragraphs else None,
        }
        total_words = max(1, sum(words))
        out["habits"] = {
            habit: {
                "texts": self.texts_with(habit),
                "share": _share(self.texts_with(habit), n),
                "count": sum(getattr(t, habit) for t in self.texts),
                "per_100_words": round(100 * sum(getattr(t, habit) for t in self.texts) / total_words, 2),
            }
            for habit in HABITS
        }
        out["habits"]["upper_i"] = {"texts": self.texts_with("upper_i"), "count": sum(t.upper_i for t in self.texts)}
        share = self.contraction_share()
        out["contractions"] = {
            "contracted": sum(t.contractions for t in self.texts),
            "expanded": sum(t.expanded for t in self.texts),
            "share": None if share is None else round(share, 3),
        }
        out["openers"] = _ranked(Counter(t.opener for t in self.texts if t.opener), n, minimum=2)
        phrase_counts = Counter(p for t in self.texts for p in t.phrases)
        out["phrases"] = _ranked(phrase_counts, n, minimum=2)
        formal = Counter[str]()
        informal = Counter[str]()
        for t in self.texts:
            formal.update(t.formal)
            informal.update(t.informal)
        out["formality"] = {
            "formal_markers": dict(formal.most_common(TOP)),
            "informal_markers": dict(informal.most_common(TOP)),
            "formal_per_100_words": round(100 * sum(formal.values()) / total_words, 2),
            "informal_per_100_words": round(100 * sum(informal.values()) / total_words, 2),
        }
        titled = [t for t in self.texts if t.title_words is not None]
        if titled:
            out["titles"] = {
                "texts": len(titled),
                "words": distribution([t.title_words or 0 for t in titled]),
                "case": _ranked(Counter(t.title_case for t in titled), len(titled)),
                "ends_with": _ranked(Counter(t.title_ends for t in titled), len(titled)),
            }
        if self.genre != "email":
            out["genre_marks"] = {
                "headline_texts": sum(1 for t in self.texts if t.headline),
                "rating_texts": sum(1 for t in self.texts if t.ratings),
                "recommend_texts": sum(1 for t in self.texts if t.recommend),
                "superlatives_per_100_words": round(100 * sum(t.superlatives for t in self.texts) / total_words, 2),
            }
        return out

    def _top_recipients(self) -> list[tuple[str, int]]:
        counts = Counter(t.recipient for t in self.texts if t.recipient)
        return [(r, c) for r, c in counts.most_common(TOP) if c >= 2]

    def _by_recipient(self, attribute: str) -> dict[str, list[list[Any]]]:
        out = {}
        for recipient, count in self._top_recipients():
            out[recipient] = _ranked(
                Counter(getattr(t, attribute) for t in self.texts if t.recipient == recipient), count
            )
        return out


def _share(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def _ranked(counts: Counter[Any], total: int, minimum: int = 1) -> list[list[Any]]:
    """[[form, count, share], ...] most common first; None is shown as "(none)"."""
    return [
        ["(none)" if form is None else form, count, _share(count, total)]
        for form, count in counts.most_common(TOP)
        if count >= minimum
    ]


def _latest(found: tuple[str | None] | None) -> dict[str, Any] | None:
    """The form the last sent texts agree on, as `pa style --json` shows it."""
    return None if found is None else {"form": found[0], "last_sent_texts": RECENT_AGREE}


def _usual(found: tuple[str | None, int, int] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    form, hits, total = found
    return {"form": form, "texts": hits, "of": total}
