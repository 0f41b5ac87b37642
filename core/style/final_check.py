"""The checked final: a drafted text held against the person's measured style facts.

After M_L writes the final, pa checks what the facts say clearly (a habit of more than half of
enough texts, see `ProfileFacts.usual`): the greeting form, the closing (valediction and the
name as the person signs it), the name's spelling anywhere in the text, habits the person
never shows (exclamation marks, emoji), the phrasings they correct when they edit pa's finals
(`core.style.phrasings`), and the length band of their texts of this kind or to this
recipient. What can be fixed without a model is fixed here (greeting, closing, name
spelling, a banned mark, a phrasing); a length outside the band needs a model, so `feedback()` names
the failed checks for one regeneration. Every check is pa's, reported as data
(`FinalReport.as_dict`) for the views. Pure: no model, no store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from core.style import phrasings as phrasing_edits
from core.style.phrasings import Phrasing
from core.style.profile_facts import MIN_TEXTS, RECENT_AGREE, Band, ProfileFacts
from core.style.text_facts import (
    _EMOJI,
    body_of,
    count_words,
    find_closing,
    find_greeting,
    first_recipient,
    kind_of,
    normalise,
    text_above_signoff_block,
)

NO_GREETING = "(no greeting)"
NO_VALEDICTION = "(no valediction)"
BANNED = {"exclamations": "exclamation marks", "emoji": "emoji"}


@dataclass(frozen=True)
class Check:
    """One check of one text: what the facts expect, what the text has, whether it holds."""

    name: str
    """greeting | valediction | signed_name | name_spelling | exclamations | emoji | phrasing | length"""
    passed: bool
    expected: str
    found: str
    evidence: str = ""
    """Where the expectation comes from: `31 of 40 texts`."""
    repaired: bool = False
    """Failed first, then fixed by pa without a model."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "found": self.found,
            "evidence": self.evidence,
            "repaired": self.repaired,
        }


@dataclass(frozen=True)
class FinalReport:
    """The checks of a final, after pa's repairs (and its regenerations, if there were any)."""

    text: str
    checks: tuple[Check, ...]
    regenerated: bool = False
    original: str | None = None
    """The model's text before pa changed it, when pa changed it."""
    written: int = 1
    """How many texts M_L wrote for this final (the first and each regeneration); pa kept the closest."""

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def needs_model(self) -> bool:
        """A check failed that pa cannot fix by itself (only a regeneration can)."""
        return bool(self.failed)

    def summary(self) -> str:
        """One line for views: `5 of 6 checks passed (greeting, closing repaired); failed: length`."""
        passed = sum(c.passed for c in self.checks)
        parts = [f"{passed} of {len(self.checks)} checks passed"]
        repaired = [c.name for c in self.checks if c.repaired]
        if repaired:
            parts.append(f"repaired by pa: {', '.join(repaired)}")
        if self.regenerated:
            parts.append("regenerated once" if self.written == 2 else f"the closest of {self.written} texts kept")
        elif self.written > 1:
            parts.append(f"the first of {self.written} texts kept")
        if self.failed:
            parts.append(
                "failed: " + ", ".join(f"{c.name} (expected {c.expected}, found {c.found})" for c in self.failed)
            )
        return "; ".join(parts)

    def feedback(self) -> str:
        """What a regeneration is told: the failed checks, named, as pa's measurement."""
        lines = ["pa checked this text against how the person writes (measured from their own texts) and it fails:"]
        for check in self.failed:
            lines.append(f"- {check.name}: expected {check.expected} ({check.evidence}); the text has {check.found}.")
        lines.append("Write the whole text again so that it passes these checks; keep its content and everything else.")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": "pa",
            "passed": self.passed,
            "regenerated": self.regenerated,
            "written": self.written,
            "summary": self.summary(),
            "checks": [c.as_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class Expectations:
    """What the facts say clearly about one text to write; None where they say nothing."""

    greeting: tuple[str | None, str] | None = None
    """(form or None for "no greeting", evidence)"""
    valediction: tuple[str | None, str] | None = None
    signed_name: tuple[str | None, str] | None = None
    band: Band | None = None
    banned: tuple[str, ...] = ()
    names: tuple[str, ...] = field(default_factory=tuple)
    """The person's names as they sign them, for spelling checks."""
    greet_name: str | None = None
    """The recipient's first name, when the request names one (to fill `NAME`)."""
    latest: frozenset[str] = frozenset()
    """The expectations set by the person's last sent texts (`ProfileFacts.latest`), not by
    their older habit: rules learned from edits never override these (they say the same, newer)."""
    phrasings: tuple[Phrasing, ...] = ()
    """Swaps the person makes when they edit pa's finals."""


def expectations_for(
    facts: ProfileFacts, recipient: str | None = None, subject: str | None = None, previous: str | None = None
) -> Expectations:
    """The expectations that apply to one text: by recipient where they have enough texts,
    by kind (reply/new) for the length band, else the person's overall habits."""
    address = first_recipient(recipient)
    kind = kind_of(subject, previous, facts.genre)

    latest: set[str] = set()

    def usual(attribute: str) -> tuple[str | None, str] | None:
        newest = facts.latest(attribute, address)
        if newest is not None:
            latest.add(attribute)
            return newest[0], f"your last {RECENT_AGREE} sent texts"
        found = facts.usual(attribute, address)
        return None if found is None else (found[0], f"{found[1]} of {found[2]} texts")

    email = facts.genre == "email"
    banned = tuple(habit for habit in BANNED if facts.never(habit))
    names = (
        tuple(name for name, count in facts.names_signed().most_common(3) if count >= 2 and name[:1].isalpha())
        if facts.count >= MIN_TEXTS
        else ()
    )
    band = facts.length_band(kind=kind, recipient=address)
    if band is not None and band.sent:
        latest.add("band")
    return Expectations(
        greeting=usual("greeting") if email else None,
        valediction=usual("valediction") if email else None,
        signed_name=usual("signed_name") if email else None,
        band=band,
        banned=banned,
        names=names,
        greet_name=_first_name(recipient),
        latest=frozenset(latest),
        phrasings=tuple(facts.phrasings),
    )


def _first_name(recipient: str | None) -> str | None:
    """`Sam Hill <sam.hill@x.com>` -> Sam; `sam.hill@x.com` -> Sam; `jsmith@x.com` (no way to
    tell the first name) or several recipients -> None."""
    if not recipient or "," in recipient.split("<")[0] and "@" in recipient:
        return None
    display = recipient.split("<")[0].strip().strip('"')
    if display and "@" not in display:
        first = display.split()[0]
        return first if first.isalpha() else None
    local = recipient.strip("<> ").split("@")[0]
    parts = re.split(r"[._+-]", local)
    return parts[0].capitalize() if len(parts) > 1 and parts[0].isalpha() and len(parts[0]) > 1 else None


def check_text(text: str, expected: Expectations, signoff: str | None = None) -> list[Check]:
    """Every check that applies, on `text` as it stands (no repair); `signoff`: a stored
    document's closing when the cleaner kept it apart from the text."""
    checks: list[Check] = []
    greeting, rest = find_greeting(text)
    closing, body = find_closing(rest, signoff)
    if expected.greeting is not None:
        form, evidence = expected.greeting
        found = greeting.form if greeting else None
        checks.append(Check("greeting", found == form, _show(form, NO_GREETING), _show(found, NO_GREETING), evidence))
    if expected.valediction is not None:
        form, evidence = expected.valediction
        found = closing.valediction if closing else None
        checks.append(
            Check("valediction", found == form, _show(form, NO_VALEDICTION), _show(found, NO_VALEDICTION), evidence)
        )
    if expected.signed_name is not None:
        form, evidence = expected.signed_name
        found = closing.name if closing else None
        checks.append(
            Check("signed_name", found == form, _show(form, "(no name)"), _show(found, "(no name)"), evidence)
        )
    misspelt = _misspellings(text, expected.names)
    if expected.names:
        checks.append(
            Check(
                "name_spelling",
                not misspelt,
                " / ".join(expected.names),
                ", ".join(sorted(misspelt)) or "no misspelling",
                "names the person signs with",
            )
        )
    for habit in expected.banned:
        count = text.count("!") if habit == "exclamations" else len(_EMOJI.findall(text))
        checks.append(Check(habit, count == 0, f"no {BANNED[habit]}", f"{count}", "none in any of their texts"))
    if expected.phrasings:
        kept = phrasing_edits.found_in(text, expected.phrasings)
        checks.append(
            Check(
                "phrasing",
                not kept,
                "; ".join(p.describe() for p in expected.phrasings),
                "; ".join(p.shown() for p in kept) or "none of the old forms",
                f"each made in {phrasing_edits.MIN_EDITS} or more of your edits of pa's finals",
            )
        )
    if expected.band is not None:
        words = count_words(body)
        checks.append(
            Check(
                "length",
                expected.band.holds(words),
                expected.band.describe(),
                f"{words} words",
                f"10th-90th percentile of {'your last ' if expected.band.sent else ''}{expected.band.texts}"
                f" {'sent ' if expected.band.sent else ''}texts",
            )
        )
    return checks


def _show(form: str | None, none: str) -> str:
    return none if form is None else repr(form)


def _misspellings(text: str, names: tuple[str, ...]) -> set[str]:
    """Words one edit away from one of the person's names (`Philip` for `Phillip`)."""
    wanted = {part for name in names for part in name.lstrip("-~ ").split() if len(part) >= 4}
    found = set()
    for word in set(re.findall(r"[A-Z][a-z]{2,}", text)):
        if word not in wanted and any(_one_edit(word, name) for name in wanted):
            found.add(word)
    return found


def _one_edit(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1 or a[0] != b[0]:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def repair(text: str, expected: Expectations) -> tuple[str, set[str]]:
    """Fix what is safe to fix without a model; returns (text, names of the checks fixed)."""
    fixed: set[str] = set()
    text = normalise(text)
    greeting, rest = find_greeting(text)
    if expected.greeting is not None:
        form = expected.greeting[0]
        found = greeting.form if greeting else None
        placeholder = bool(greeting and greeting.name and greeting.name.startswith("[") and expected.greet_name)
        if found != form or placeholder:  # "Dear [Name],": a model's placeholder, filled from the request
            name = (greeting.name if greeting and not placeholder else None) or expected.greet_name
            if form is None:
                text, fixed = rest.lstrip("\n"), fixed | {"greeting"}
            elif "NAME" not in form or name:
                line = form.replace("NAME", name or "")
                separator = "\n\n" if "\n\n" in rest.strip() else "\n"
                text, fixed = f"{line}{separator}{rest.lstrip()}", fixed | {"greeting"}
    closing, body = find_closing(text)
    wants_closing = expected.valediction is not None or expected.signed_name is not None
    if wants_closing:
        valediction = expected.valediction[0] if expected.valediction else (closing.valediction if closing else None)
        name = expected.signed_name[0] if expected.signed_name else (closing.name if closing else None)
        now = (closing.valediction, closing.name) if closing else (None, None)
        above, whole_block = text_above_signoff_block(text), False
        if above is not None and len(above) < len(body.rstrip()):  # "Best regards,\n[Your Name]\n[Title]": whole
            body, whole_block = above, True
        if (valediction, name) != now or whole_block:
            block = "\n".join(part for part in (valediction, name) if part)
            text = f"{body.rstrip()}\n\n{block}" if block else body.rstrip()
            fixed |= {
                check
                for check, ok in (("valediction", valediction == now[0]), ("signed_name", name == now[1]))
                if not ok
            }
    for wrong in _misspellings(text, expected.names):
        right = next(
            part
            for n in expected.names
            for part in n.lstrip("-~ ").split()
            if len(part) >= 4 and _one_edit(wrong, part)
        )
        text = re.sub(rf"\b{wrong}\b", right, text)
        fixed.add("name_spelling")
    if "exclamations" in expected.banned and "!" in text:
        text = re.sub(r"!+", ".", text).replace("?.", "?")
        fixed.add("exclamations")
    if "emoji" in expected.banned and _EMOJI.search(text):
        text = re.sub(r"[ \t]*" + _EMOJI.pattern, "", text)
        fixed.add("emoji")
    kept = phrasing_edits.found_in(text, expected.phrasings)
    if kept:
        text = phrasing_edits.apply(text, kept)
        fixed.add("phrasing")
    return text.strip(), fixed


class FinalChecker:
    """Checks and repairs finals against one profile's facts, for one request."""

    def __init__(self, expected: Expectations, regenerations: int = 1):
        self.expected = expected
        self.regenerations = regenerations
        """How many more texts M_L may write while a check still fails (drafting.check_regenerations)."""

    @classmethod
    def for_request(
        cls,
        facts: ProfileFacts,
        recipient: str | None = None,
        subject: str | None = None,
        previous: str | None = None,
        *,
        regenerations: int = 1,
    ) -> FinalChecker:
        return cls(expectations_for(facts, recipient, subject, previous), regenerations)

    @property
    def active(self) -> bool:
        """Whether the facts say anything clearly enough to check."""
        e = self.expected
        return any(x is not None for x in (e.greeting, e.valediction, e.signed_name, e.band)) or bool(
            e.banned or e.names or e.phrasings
        )

    def shortfall(self, report: FinalReport) -> tuple[int, int]:
        """How far a checked text is from the facts: (failed checks, words outside the length band)."""
        band = self.expected.band
        outside = band.distance(count_words(body_of(report.text))) if band is not None else 0
        return len(report.failed), outside

    def check(self, text: str, *, regenerated: bool = False, original: str | None = None) -> FinalReport:
        """Check `text`, repair what is safe, and check again: the report on the repaired text."""
        before = {c.name: c for c in check_text(text, self.expected)}
        repaired, fixed = repair(text, self.expected)
        after = check_text(repaired, self.expected)
        checks = tuple(replace(c, repaired=c.passed and not before[c.name].passed and c.name in fixed) for c in after)
        changed = repaired != normalise(text).strip()
        return FinalReport(
            repaired, checks, regenerated, original if original is not None else (text if changed else None)
        )
