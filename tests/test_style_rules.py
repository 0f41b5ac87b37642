"""Verified rules: distilled rules are held against the measured facts and the person's most
similar texts; a rule they contradict is dropped with its reason, and the agent learns the
rules that held together with the facts that apply, marked as pa's."""

from __future__ import annotations

import hashlib
import json

import pytest

from core.paths import resolve_paths
from core.store import Store
from core.style.profile_facts import ProfileFacts
from core.style.rule_check import (
    PA_MARK,
    Claim,
    check_profile_rules,
    claims_of,
    rule_verdicts,
    rules_of,
    verify_rule,
)
from core.style.text_facts import measure

CALM = [
    f"Hi {name},\n\nThe {thing} is ready. Please take a look when you can.\n\nThanks,\nTheresa"
    for name, thing in [
        ("Sam", "report"),
        ("Ann", "budget"),
        ("Bo", "memo"),
        ("Jo", "plan"),
        ("Al", "deal"),
        ("Cy", "model"),
    ]
]


@pytest.fixture
def calm() -> ProfileFacts:
    return ProfileFacts.of(measure(text) for text in CALM)


@pytest.mark.parametrize(
    ("rule", "claims"),
    [
        ("Use exclamation marks to sound upbeat.", [Claim("exclamations", True)]),
        ("Avoid exclamation marks.", [Claim("exclamations", False)]),
        ("Start with 'Hey Sam!'", [Claim("greeting", value="Hey Sam!")]),
        ("Skip the greeting.", [Claim("no_greeting")]),
        ("Sign off with 'Best regards'.", [Claim("closing", value="Best regards")]),
        ("Use contractions (don't, I'll).", [Claim("contractions", True)]),
        ("Length: about 40 words in 1 paragraph.", [Claim("length", value="40"), Claim("paragraphs", value="1")]),
        ("Write two short paragraphs.", [Claim("paragraphs", value="2")]),
        ("Keep a casual, friendly tone.", [Claim("formal", positive=False)]),
        ("Use a formal register.", [Claim("formal", positive=True)]),
        ("Be direct and warm.", []),
    ],
)
def test_the_testable_claims_of_a_rule_are_read(rule, claims):
    assert claims_of(rule) == claims


def test_rules_are_read_one_per_bullet():
    assert rules_of("- Be brief.\n- Sign off with 'T'.\n\n") == ["Be brief.", "Sign off with 'T'."]


def test_a_rule_contradicting_the_facts_is_dropped(calm):
    verdict = verify_rule(0, "Use exclamation marks to sound upbeat.", calm.texts[0], calm.texts[1:], calm)
    assert verdict.verdict == "dropped"
    assert verdict.reason == "contradicts the measured facts: uses exclamation marks holds in 0 of 6 texts"


def test_a_closing_the_person_never_writes_is_dropped(calm):
    verdict = verify_rule(1, "Sign off with 'Best regards,\\nTed'.", calm.texts[0], calm.texts[1:], calm)
    assert verdict.verdict == "dropped" and "0 of 6 texts" in verdict.reason


def test_a_rule_that_holds_across_the_samples_is_kept(calm):
    for rule in ("Open with 'Hi Sam,'.", "Sign off with 'Thanks,\\nTheresa'.", "Never use exclamation marks."):
        verdict = verify_rule(0, rule, calm.texts[0], calm.texts[1:], calm)
        assert verdict.verdict == "kept", (rule, verdict.reason)


def test_a_rule_most_similar_texts_contradict_is_dropped_even_when_the_profile_is_mixed():
    texts = [measure(f"Hey Bo,\nitem {i} done!\n\nT") for i in range(4)] + [
        measure(f"Dear Ann,\nItem {i} is done.\n\nRegards,\nTheresa") for i in range(4)
    ]
    facts = ProfileFacts.of(texts)
    verdict = verify_rule(0, "Use exclamation marks.", texts[4], texts[5:8], facts)
    assert verdict.verdict == "dropped" and verdict.reason.startswith("contradicts 3 of the 3 most similar texts")


def test_a_length_rule_is_held_against_its_own_text(calm):
    own = calm.texts[0]
    assert verify_rule(0, "Length: about 200 words.", own, [], calm).verdict == "dropped"
    assert verify_rule(0, f"Length: about {own.words} words.", own, [], calm).verdict == "kept"


def test_a_paragraph_count_is_held_against_its_own_text(calm):
    own = calm.texts[0]
    assert own.paragraphs == 1
    assert verify_rule(0, "Write four paragraphs.", own, [], calm).verdict == "dropped"
    assert verify_rule(0, "One short paragraph.", own, [], calm).verdict == "kept"


def test_a_tone_the_person_never_takes_is_dropped(calm):
    verdict = verify_rule(0, "Keep it casual.", calm.texts[0], calm.texts[1:], calm)
    assert verdict.verdict == "dropped" and "a casual tone holds in 0 of 6 texts" in verdict.reason


def test_rules_pa_cannot_test_are_kept_and_marked_unchecked(calm):
    verdict = verify_rule(0, "Be direct and warm.", calm.texts[0], [], calm)
    assert verdict.verdict == "unchecked"
    few = ProfileFacts.of(calm.texts[:3])
    assert verify_rule(0, "Use exclamation marks.", calm.texts[0], [], few).verdict == "unchecked"


# -- the profile: stored verdicts, pa rules show, the agent's training data -------------------

RULES = "- Use exclamation marks to sound upbeat.\n- Open with 'Hi Sam,'.\n- Be direct.\n- Length: about 10 words in 1 paragraph."


def _distilled_profile() -> tuple[Store, int]:
    store = Store.open(resolve_paths().store_file)
    profile = store.create_profile("theresa")
    with store.transaction() as db:
        for n, text in enumerate(CALM):
            document_id = db.execute(
                "INSERT INTO documents (profile_id, text, recipients, content_hash, split) VALUES (?, ?, ?, ?, 'train')",
                (profile.id, text, f"p{n}@example.com", hashlib.sha256(text.encode()).hexdigest()),
            ).lastrowid
            for stage, content in (
                ("intent", f"- say thing {n} is ready"),
                ("rules", RULES),
                ("nobaseline_rules", RULES),
            ):
                db.execute(
                    "INSERT INTO distillations (document_id, stage, status, content, thinking, template_id, template_version, model) "
                    "VALUES (?, ?, 'ok', ?, ?, 'email.x', 1, 'scripted')",
                    (document_id, stage, content, "They are calm." if stage == "rules" else None),
                )
    return store, profile.id


def test_the_profiles_rules_are_checked_once_against_the_similar_texts_and_stored():
    store, profile_id = _distilled_profile()
    profile = store.get_profile("theresa")
    assert (
        check_profile_rules(store, profile, k=3) == 12
    )  # rules and no-baseline rules; the real MiniLM finds the neighbours
    assert check_profile_rules(store, profile) == 0
    first = min(d.id for d in store.documents(profile_id))
    verdicts = {v.rule: v.verdict for v in rule_verdicts(store, first)}
    assert verdicts == {
        "Use exclamation marks to sound upbeat.": "dropped",
        "Open with 'Hi Sam,'.": "kept",
        "Be direct.": "unchecked",
        "Length: about 10 words in 1 paragraph.": "kept",
    }


def test_pa_rules_show_lists_every_drop_with_its_reason(pa):
    _distilled_profile()
    result = pa("rules", "show", "--profile", "theresa", "--json")
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)
    dropped = [c for item in items for c in item["rule_checks"] if c["verdict"] == "dropped"]
    assert len(dropped) == 6 and all("contradicts the measured facts" in c["reason"] for c in dropped)
    listing = pa("rules", "show", "--profile", "theresa")
    assert "6 dropped" in listing.stdout and "Use exclamation marks" in listing.stdout


def test_the_agent_learns_the_rules_that_held_and_the_facts_that_apply_marked_as_pas():
    from finetune.dataset import collect_examples

    _distilled_profile()
    dataset = collect_examples(Store.open(resolve_paths().store_file), "theresa", "agent")
    target = dataset.train[0].target
    assert "exclamation marks to sound upbeat" not in target
    assert "- Open with 'Hi Sam,'." in target and "- Be direct." in target
    assert f"- {PA_MARK} Greeting: 'Hi NAME,' (6 of 6 texts)." in target
    assert f"- {PA_MARK} Closing: 'Thanks,\\nTheresa' (6 of 6 texts)." in target
    assert f"- {PA_MARK} Never uses exclamation marks." in target
    no_baseline = collect_examples(Store.open(resolve_paths().store_file), "theresa", "no-baseline")
    assert no_baseline.train[0].target == f"<rules>\n{RULES}\n</rules>"  # the paper's baseline is left as distilled
