"""Verified rules: each distilled rule checked against the person's measured facts and their
most similar texts, PROSE-style, before an agent learns it.

A rule M_L wrote about one text is a claim ("sign off with 'Best regards'", "use exclamation
marks", "about 200 words"). pa reads the claims it can test (`claims_of`) and holds them
against (a) the profile's facts: the share of the person's texts consistent with the claim,
and (b) the k texts most similar to the one the rule came from (all-MiniLM-L6-v2, the shared
`core.similarity` model): a claim that fewer than `MIN_PROFILE_SHARE` of all texts or fewer
than half of the k similar ones bear out is dropped, with the reason. A length claim is held
against the text it was written for. Rules pa cannot test are kept, marked unchecked. The
agent is then trained on the kept rules plus the facts that apply to that message, written
as pa's (`facts_as_rules`). Verdicts are stored in `rule_checks` (`pa rules show`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.style.profile_facts import MIN_TEXTS, ProfileFacts
from core.style.text_facts import TextFacts, _closing_at_start, find_greeting

if TYPE_CHECKING:
    from core.store import Profile, Store
    from core.style.final_check import Expectations

K_SIMILAR = 5
MIN_PROFILE_SHARE = 0.2
"""A claim borne out by fewer than this share of the person's texts contradicts the facts."""
MIN_SIMILAR_SHARE = 0.5
"""A claim borne out by fewer than half of the k most similar texts contradicts them."""
LENGTH_TOLERANCE = 0.5
"""A stated length more than 50% off the text's own word count is wrong."""
PA_MARK = "(pa, measured)"
"""How a fact pa measured is written among an agent's rules: never passed off as the model's."""

_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*\S)\s*$")
_QUOTED = re.compile(r"[\"'\u201c\u2018`]([^\"'\u201d\u2019`]{1,60})[\"'\u201d\u2019`]")
_NEGATED = re.compile(r"\b(?:no|not|never|avoid|without|don't|do not|skip|omit|refrain)\b", re.IGNORECASE)
_NUMBERS = {"one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_PARAGRAPHS_CLAIM = re.compile(r"\b(\d|one|single|two|three|four|five|six)\s+(?:short\s+|brief\s+)?paragraphs?\b")
_WORDS_CLAIM = re.compile(
    r"\b(?:about|around|roughly|approximately|under|less than|at most|no more than|~)?\s*(\d{1,4})\s*(?:-\s*\d{1,4}\s*)?words?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    """What a rule says that the facts can test."""

    kind: str
    """greeting | no_greeting | closing | no_closing | exclamations | contractions | emoji | lowercase | formal |
    length | paragraphs (the last two are held against the rule's own text)"""
    positive: bool = True
    value: str | None = None

    def describe(self) -> str:
        subject = {
            "exclamations": "exclamation marks",
            "contractions": "contractions",
            "emoji": "emoji",
            "lowercase": "lower-case writing",
        }.get(self.kind, self.kind)
        if self.kind in ("greeting", "closing"):
            return f"{self.kind} {self.value!r}"
        if self.kind == "length":
            return f"about {self.value} words"
        if self.kind == "paragraphs":
            return f"{self.value} paragraph(s)"
        if self.kind == "formal":
            return "a formal tone" if self.positive else "a casual tone"
        if self.kind in ("no_greeting", "no_closing"):
            return self.kind.replace("_", " ")
        return f"{'uses' if self.positive else 'no'} {subject}"


@dataclass(frozen=True)
class RuleVerdict:
    position: int
    rule: str
    verdict: str
    """kept | dropped | unchecked"""
    reason: str


def rules_of(content: str) -> list[str]:
    """The rules of a distilled rules block, one per bullet (or line)."""
    lines = [line for line in content.splitlines() if line.strip()]
    points = [m.group(1) for line in lines if (m := _BULLET.match(line))]
    return points if points else [line.strip() for line in lines]


def claims_of(rule: str) -> list[Claim]:
    """The testable claims of one rule (none when pa cannot test it)."""
    lowered = rule.lower()
    negated = bool(
        _NEGATED.search(re.sub(r"\([^)]*\)", "", _QUOTED.sub("", lowered)))
    )  # examples in quotes or brackets say nothing
    quoted = _QUOTED.findall(rule)
    claims: list[Claim] = []
    if re.search(
        r"\b(?:greet|greeting|salutation|open(?:s|ing)? with|start(?:s|ing)? with|begin(?:s|ning)? with|address)\b",
        lowered,
    ):
        if negated and not quoted:
            claims.append(Claim("no_greeting"))
        elif quoted:
            claims.append(Claim("greeting", value=quoted[0]))
    if re.search(
        r"\b(?:sign(?:s|ing)?[- ]?off|sign(?:s|ed)? (?:with|as)|clos(?:e|es|ing) with|end(?:s|ing)? with|valediction|signature|sign-off|closing)\b",
        lowered,
    ):
        if negated and not quoted:
            claims.append(Claim("no_closing"))
        elif quoted:
            claims.append(Claim("closing", value=quoted[-1]))
    for kind, pattern in (
        ("exclamations", r"exclamation"),
        ("contractions", r"contraction"),
        ("emoji", r"\bemojis?\b|\bemoticons?\b"),
        ("lowercase", r"\blower[- ]?case\b|\bno capitali[sz]"),
    ):
        if re.search(pattern, lowered):
            claims.append(Claim(kind, positive=not negated if kind != "lowercase" else True))
    if (match := _WORDS_CLAIM.search(rule)) and re.search(r"\blength\b|\bwords?\b", lowered):
        claims.append(Claim("length", value=match.group(1)))
    if match := _PARAGRAPHS_CLAIM.search(lowered):
        count = match.group(1)
        claims.append(Claim("paragraphs", value=str(_NUMBERS.get(count, count))))
    if re.search(r"\b(?:casual|informal|relaxed|conversational|chatty)\b", lowered):
        claims.append(Claim("formal", positive=False))
    elif re.search(r"\bformal\b", lowered):
        claims.append(Claim("formal", positive=not negated))
    return claims


def consistent(claim: Claim, text: TextFacts) -> bool | None:
    """Whether one text bears the claim out; None when the text says nothing about it."""
    if claim.kind == "greeting":
        expected, _ = find_greeting(f"{claim.value}\nx")
        if expected is None:
            return None
        return bool(text.greeting) and (text.greeting or "").split()[0].lower() == expected.form.split()[0].lower()
    if claim.kind == "no_greeting":
        return text.greeting is None
    if claim.kind == "closing":
        assert claim.value is not None, "a closing claim has a value"
        closing = _closing_at_start(claim.value.replace("\\n", "\n").split("\n"))
        if closing is None:
            return None
        same_valediction = closing.valediction is None or _plain(text.valediction) == _plain(closing.valediction)
        same_name = closing.name is None or _plain(text.signed_name) == _plain(closing.name)
        return same_valediction and same_name
    if claim.kind == "no_closing":
        return text.valediction is None and text.signed_name is None
    if claim.kind == "exclamations":
        return (text.exclamations > 0) == claim.positive
    if claim.kind == "emoji":
        return (text.emoji + text.emoticons > 0) == claim.positive
    if claim.kind == "contractions":
        if text.contractions + text.expanded == 0:
            return None
        return (text.contractions > 0) == claim.positive
    if claim.kind == "lowercase":
        return text.lowercase_starts > 0 or text.lower_i > 0
    if claim.kind == "formal":
        formal, informal = sum(text.formal.values()), sum(text.informal.values())
        if formal == informal:
            return None
        return (formal > informal) == claim.positive
    return None


def _plain(form: str | None) -> str:
    return re.sub(r"[^\w ]", "", (form or "").lower()).strip()


def share(claim: Claim, texts: Sequence[TextFacts]) -> tuple[int, int]:
    """(texts bearing the claim out, texts that say anything about it)."""
    verdicts = [v for v in (consistent(claim, t) for t in texts) if v is not None]
    return sum(verdicts), len(verdicts)


def verify_rule(
    position: int, rule: str, own: TextFacts, similar: Sequence[TextFacts], facts: ProfileFacts
) -> RuleVerdict:
    """Keep, drop or leave unchecked one rule of the text whose facts are `own`."""
    claims = claims_of(rule)
    if not claims:
        return RuleVerdict(position, rule, "unchecked", "pa cannot test this rule against the facts")
    for claim in claims:
        if claim.kind == "length":
            stated = int(claim.value or 0)
            if own.words and abs(stated - own.words) / own.words > LENGTH_TOLERANCE:
                return RuleVerdict(
                    position,
                    rule,
                    "dropped",
                    f"states {claim.describe()}, but the text it was written for has {own.words} words",
                )
            continue
        if claim.kind == "paragraphs":
            if own.paragraphs and abs(int(claim.value or 0) - own.paragraphs) > 1:
                return RuleVerdict(
                    position,
                    rule,
                    "dropped",
                    f"states {claim.describe()}, but the text it was written for has {own.paragraphs}",
                )
            continue
        if facts.count < MIN_TEXTS:
            return RuleVerdict(
                position, rule, "unchecked", f"only {facts.count} texts measured; at least {MIN_TEXTS} are needed"
            )
        held, told = share(claim, facts.texts)
        if told >= MIN_TEXTS and held / told < MIN_PROFILE_SHARE:
            return RuleVerdict(
                position,
                rule,
                "dropped",
                f"contradicts the measured facts: {claim.describe()} holds in {held} of {told} texts",
            )
        held_similar, told_similar = share(claim, similar)
        if told_similar and held_similar / told_similar < MIN_SIMILAR_SHARE:
            return RuleVerdict(
                position,
                rule,
                "dropped",
                f"contradicts {told_similar - held_similar} of the {told_similar} most similar texts ({claim.describe()})",
            )
    described = ", ".join(c.describe() for c in claims)
    return RuleVerdict(position, rule, "kept", f"holds: {described}")


# -- the profile: retrieval, storage ---------------------------------------------------------


Neighbours = Callable[[int, int], list[int]]
"""(document id, k) -> the ids of the k most similar other documents."""


def embedding_neighbours(texts: dict[int, str]) -> Neighbours:
    """k nearest texts by all-MiniLM-L6-v2 sentence vectors (the shared model)."""
    import numpy as np

    from core.similarity import shared_model

    ids = list(texts)
    vectors = shared_model().sentence_embeddings([texts[i] for i in ids]) if ids else np.zeros((0, 1))
    index = {document_id: n for n, document_id in enumerate(ids)}

    def nearest(document_id: int, k: int) -> list[int]:
        if document_id not in index:
            return []
        scores = vectors @ vectors[index[document_id]]
        order = sorted(range(len(ids)), key=lambda n: (-float(scores[n]), n))
        return [ids[n] for n in order if ids[n] != document_id][:k]

    return nearest


def check_profile_rules(
    store: Store, profile: Profile, *, k: int = K_SIMILAR, neighbours: Neighbours | None = None
) -> int:
    """Verify every ok rules distillation of the profile that has no verdicts yet; returns how many."""
    from core.style.facts_store import document_facts, refresh_facts

    rows = store.query(
        "SELECT s.document_id, s.stage, s.content FROM distillations s JOIN documents d ON d.id = s.document_id "
        "WHERE d.profile_id = ? AND s.stage IN ('rules', 'nobaseline_rules') AND s.status = 'ok' "
        "AND NOT EXISTS (SELECT 1 FROM rule_checks c WHERE c.document_id = s.document_id AND c.stage = s.stage) ORDER BY s.document_id",
        (profile.id,),
    )
    if not rows:
        return 0
    refresh_facts(store, profile)
    by_document = document_facts(store, profile, split="train")
    facts = ProfileFacts.of(by_document.values(), profile.genre)
    if neighbours is None and facts.count >= MIN_TEXTS:
        texts = {
            row["id"]: row["text"]
            for row in store.query(
                "SELECT id, text FROM documents WHERE profile_id = ? AND split = 'train'", (profile.id,)
            )
        }
        neighbours = embedding_neighbours(texts)
    checked = 0
    with store.transaction() as db:
        for row in rows:
            own = by_document.get(row["document_id"]) or TextFacts()
            similar = (
                [by_document[i] for i in neighbours(row["document_id"], k) if i in by_document] if neighbours else []
            )
            for position, rule in enumerate(rules_of(row["content"] or "")):
                verdict = verify_rule(position, rule, own, similar, facts)
                db.execute(
                    "INSERT OR REPLACE INTO rule_checks (document_id, stage, position, rule, verdict, reason) VALUES (?, ?, ?, ?, ?, ?)",
                    (row["document_id"], row["stage"], position, verdict.rule, verdict.verdict, verdict.reason),
                )
            checked += 1
    return checked


def rule_verdicts(store: Store, document_id: int, stage: str = "rules") -> list[RuleVerdict]:
    return [
        RuleVerdict(row["position"], row["rule"], row["verdict"], row["reason"] or "")
        for row in store.query(
            "SELECT * FROM rule_checks WHERE document_id = ? AND stage = ? ORDER BY position", (document_id, stage)
        )
    ]


def kept_rules(content: str, verdicts: Sequence[RuleVerdict]) -> str:
    """The rules block without the dropped rules (all of it when it was never checked)."""
    dropped = {v.position for v in verdicts if v.verdict == "dropped"}
    return "\n".join(f"- {rule}" for n, rule in enumerate(rules_of(content)) if n not in dropped)


def facts_as_rules(expected: Expectations) -> list[str]:
    """The facts that apply to one message, written as rules marked as pa's measurement."""
    lines = []
    if expected.greeting is not None:
        form, evidence = expected.greeting
        lines.append(f"{PA_MARK} Greeting: {'none' if form is None else repr(form)} ({evidence}).")
    if expected.valediction is not None or expected.signed_name is not None:
        valediction = expected.valediction[0] if expected.valediction else None
        name = expected.signed_name[0] if expected.signed_name else None
        closing = "\n".join(p for p in (valediction, name) if p)
        shown = expected.signed_name or expected.valediction
        assert shown is not None  # one of the two is set (the test above)
        evidence = shown[1]
        lines.append(f"{PA_MARK} Closing: {'none' if not closing else repr(closing)} ({evidence}).")
    for habit in expected.banned:
        lines.append(f"{PA_MARK} Never uses {'exclamation marks' if habit == 'exclamations' else habit}.")
    if expected.band is not None:
        lines.append(f"{PA_MARK} Usual length: {expected.band.describe()} (from {expected.band.texts} texts).")
    return lines


def training_rules(store: Store, profile: Profile) -> Callable[[int, str, str | None, str | None, str | None], str]:
    """What an agent of `profile` learns for one document: its verified rules (dropped ones
    left out) followed by the facts that apply to that message (by recipient and kind), marked
    as pa's. Verifies the profile's rules first where that was not done yet."""
    from core.style.facts_store import load_profile_facts
    from core.style.final_check import expectations_for

    check_profile_rules(store, profile)
    facts = load_profile_facts(store, profile)

    def target(
        document_id: int, content: str, recipients: str | None, subject: str | None, previous: str | None
    ) -> str:
        rules = kept_rules(content, rule_verdicts(store, document_id))
        measured = facts_as_rules(expectations_for(facts, recipients, subject, previous))
        lines = [line for line in rules.splitlines() if line.strip()] + [f"- {line}" for line in measured]
        return "\n".join(lines) if lines else content

    return target
