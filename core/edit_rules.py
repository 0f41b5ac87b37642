"""Rules learned from edits, used at once: retrieved for a new intent and merged into the agent's.

Before any retraining, a draft profits from the person's corrections: the edits made on the
most similar intents (all-MiniLM-L6-v2 sentence vectors, the one model `core.similarity` shares;
an edit to the same recipient is preferred) lend their rules, which are merged into the rules
the agent wrote before M_L writes the final (`core.drafting.draft`). Every merged rule is
pa's, marked with the edit it came from ("from your edit of draft #N (date)") in every view.

Conflicts. Two rules conflict when they speak about the same aspect of the text. The aspect of a
rule is found by keywords (`ASPECTS`, checked in order, first match wins): greeting, closing,
length, exclamation marks, tone, format. A rule whose words match none has no aspect and
conflicts with nothing. The newest edit wins: an edit rule takes its aspect away from every
older edit rule and from the agent's rules (those are dropped from the final's rules, and the
use records which). Edit rules repeated word for word are kept once.

pa's check of the final against the facts measured from the corpus (`core.style.final_check`)
yields to the edits too: a check on an aspect an edit rule speaks about (greeting, closing,
length, exclamation marks) is left out for that draft, so a measured habit the person has since
corrected is not "repaired" back into the text (`checker_for`).

Edit rules are used only by `Workspace.draft` (the writer's own drafting): comparisons and
evaluation measure the agent alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from core.store import Store
    from core.style.final_check import FinalChecker

ASPECTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "closing",
            r"\b(sign[- ]?off|sign (?:with|as|your)|close with|closing|end (?:with|the)|valediction|regards|cheers)\b",
        ),
        (
            "greeting",
            r"\b(greet\w*|open (?:with|by)|opening|start (?:with|by)|begin (?:with|by)|salutation|hello|dear)\b",
        ),
        (
            "length",
            r"\b(length|short|brief|long|concise|\d+(?:\s*-\s*\d+)?\s+(?:words|sentences?|paragraphs?|lines)"
            r"|(?:one|two|three|four|five|a single)\s+(?:sentences?|paragraphs?|lines?))\b",
        ),
        ("exclamation", r"(exclamation|!)"),
        ("tone", r"\b(tone|formal|informal|casual|polite|friendly|warm)\b"),
        ("format", r"\b(bullet\w*|list|line breaks?|capitali[sz]\w*|lower[- ]?case)\b"),
    )
)
"""The aspect of a rule, by its words; the order matters ("End with 'Thanks, Jeff'" is a closing)."""
MAX_EDIT_RULES = 8
"""At most this many rules from edits join a draft's rules (the final prompt stays short)."""
RECIPIENT_BONUS = 0.1
"""Added to the similarity of an edit to the same recipient, for the threshold and the ranking:
an edit to the same person is preferred over an equally similar one to another."""


def aspect_of(rule: str) -> str | None:
    """The aspect a rule speaks about (see ASPECTS), or None."""
    for name, pattern in ASPECTS:
        if pattern.search(rule):
            return name
    return None


def rule_lines(rules: str) -> list[str]:
    """The rules as lines "- ...", a continuation line joined to its rule."""
    lines: list[str] = []
    for line in rules.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(("- ", "* ")) or not lines:
            lines.append("- " + stripped.lstrip("-* ").strip())
        else:
            lines[-1] += " " + stripped
    return lines


def _key(rule: str) -> str:
    return " ".join(rule.lower().lstrip("-* ").split()).rstrip(".")


@dataclass(frozen=True)
class EditRuleUse:
    """One rule learned from an edit, as merged into a draft's rules."""

    rule: str
    draft_id: int
    """The draft the person edited (the edit that taught this rule)."""
    sent_edit_id: int
    sent_at: str
    """When the edited text was recorded (UTC, SQLite's datetime)."""
    aspect: str | None
    similarity: float
    """MiniLM cosine of that draft's intent and the new one."""
    same_recipient: bool
    replaced: tuple[str, ...] = ()
    """The agent's rules this one overrode (same aspect)."""

    @property
    def label(self) -> str:
        return f"from your edit of draft #{self.draft_id} ({self.sent_at[:10]})"

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "replaced": list(self.replaced),
            "label": self.label,
            "source": "pa: learned from your edit",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EditRuleUse:
        fields = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        fields["replaced"] = tuple(fields.get("replaced", ()))
        return cls(**fields)


@dataclass(frozen=True)
class EditRuleCandidate:
    """An edit's rules retrieved for a new intent, before merging."""

    rules: tuple[str, ...]
    draft_id: int
    sent_edit_id: int
    sent_at: str
    similarity: float
    same_recipient: bool


def merge_rules(agent_rules: str, candidates: Sequence[EditRuleCandidate]) -> tuple[str, tuple[EditRuleUse, ...]]:
    """The rules M_L follows: the agent's, with the edits' merged in (newest edit wins, see the module)."""
    agent = rule_lines(agent_rules)
    taken: set[str] = set()
    seen = {_key(rule) for rule in agent}
    accepted: list[tuple[str, str | None, EditRuleCandidate]] = []
    for candidate in sorted(candidates, key=lambda c: c.sent_edit_id, reverse=True):
        spoken: set[str] = set()  # the aspects this edit speaks about, taken from every older one
        for rule in candidate.rules:
            aspect = aspect_of(rule)
            if aspect is not None and aspect in taken:
                continue
            if aspect is not None:
                spoken.add(aspect)
            if len(accepted) < MAX_EDIT_RULES and _key(rule) not in seen:
                seen.add(_key(rule))
                accepted.append((rule, aspect, candidate))
        taken |= spoken
    kept_agent = [rule for rule in agent if aspect_of(rule) not in {a for _, a, _ in accepted if a is not None}]
    uses = tuple(
        EditRuleUse(
            rule=rule,
            draft_id=candidate.draft_id,
            sent_edit_id=candidate.sent_edit_id,
            sent_at=candidate.sent_at,
            aspect=aspect,
            similarity=round(candidate.similarity, 4),
            same_recipient=candidate.same_recipient,
            replaced=tuple(r for r in agent if aspect is not None and aspect_of(r) == aspect),
        )
        for rule, aspect, candidate in accepted
    )
    return "\n".join([*kept_agent, *(use.rule for use in uses)]), uses


def merged_rules(agent_rules: str, uses: Sequence[EditRuleUse]) -> str:
    """The rules a final followed, rebuilt from the agent's and the edit rules merged into them."""
    replaced = {_key(rule) for use in uses for rule in use.replaced}
    kept = [rule for rule in rule_lines(agent_rules) if _key(rule) not in replaced]
    return "\n".join([*kept, *(use.rule for use in uses)])


class EditRuleIndex:
    """The profile's learned edit rules with their intents' vectors (encoded once, when first asked)."""

    def __init__(self, rows: list[dict[str, Any]], k: int, min_similarity: float):
        self.rows = rows
        self.k = k
        self.min_similarity = min_similarity
        self._vectors: np.ndarray | None = None

    @classmethod
    def load(cls, store: Store, profile_id: int, k: int, min_similarity: float) -> EditRuleIndex:
        return cls(store.edit_rule_rows(profile_id), k, min_similarity)

    def candidates(self, intent: str, recipient: str | None) -> list[EditRuleCandidate]:
        """The rules of the (at most k) edits whose intents are the most similar to `intent`."""
        if not self.rows or self.k == 0 or not intent.strip():
            return []
        from core.similarity import shared_model

        model = shared_model()
        if self._vectors is None:
            self._vectors = model.sentence_embeddings([str(row["intent"]) for row in self.rows])
        scores = self._vectors @ model.sentence_embeddings([intent])[0]
        wanted = _address(recipient)
        found = []
        for row, score in zip(self.rows, scores):
            same = bool(wanted) and _address(row["recipient"]) == wanted
            ranked = float(score) + (RECIPIENT_BONUS if same else 0.0)
            if ranked < self.min_similarity:
                continue
            found.append((ranked, float(score), same, row))
        found.sort(key=lambda item: (-item[0], -int(item[3]["sent_edit_id"])))
        return [
            EditRuleCandidate(
                rules=tuple(rule_lines(str(row["rules"]))),
                draft_id=int(row["draft_id"]),
                sent_edit_id=int(row["sent_edit_id"]),
                sent_at=str(row["sent_at"]),
                similarity=score,
                same_recipient=same,
            )
            for _, score, same, row in found[: self.k]
        ]


def _address(recipient: object) -> str:
    return " ".join(str(recipient or "").lower().split())


CHECKS_BY_ASPECT = {
    "greeting": ("greeting",),
    "closing": ("valediction", "signed_name"),
    "length": ("band",),
}
"""The expectations of pa's final check (`core.style.final_check.Expectations`) each aspect overrides."""


def checker_for(checker: FinalChecker | None, uses: Sequence[EditRuleUse]) -> FinalChecker | None:
    """The final's checker without the checks on aspects the merged edit rules speak about
    (the person's newer correction wins over the habit measured in the corpus)."""
    if checker is None or not uses:
        return checker
    from dataclasses import replace

    from core.style.final_check import FinalChecker

    aspects = {use.aspect for use in uses if use.aspect is not None}
    changes: dict[str, Any] = {
        name: None
        for aspect in aspects
        for name in CHECKS_BY_ASPECT.get(aspect, ())
        if name not in checker.expected.latest  # measured on their last sent texts: as new as the rules
    }
    if "exclamation" in aspects:
        changes["banned"] = tuple(habit for habit in checker.expected.banned if habit != "exclamations")
    if not changes:
        return checker
    narrowed = FinalChecker(replace(checker.expected, **changes), checker.regenerations)
    return narrowed if narrowed.active else None
