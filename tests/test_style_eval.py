"""Model-free measures beside the judge: authorship attribution, fact match, length error."""

from __future__ import annotations

import hashlib

from core.paths import resolve_paths
from core.store import Store
from core.style.attribution import Attributor
from core.style.final_check import expectations_for
from core.style.profile_facts import ProfileFacts
from core.style.style_eval import (
    attribution_matrix,
    fact_match,
    length_error,
    measures_markdown,
    profile_measures,
)
from core.style.text_facts import measure

TERSE = [
    f"{who},\nnumbers for {what} attached. call me if questions.\n-Phil"
    for who, what in [
        ("Bob", "May"),
        ("Sue", "June"),
        ("Al", "the desk"),
        ("Jim", "Q3"),
        ("Ann", "gas"),
        ("Kim", "power"),
        ("Tom", "west"),
    ]
]
WARM = [
    f"Dear {who},\n\nThank you so much for your kind note about {what}! I would be delighted to help, and I will "
    f"send everything over this afternoon.\n\nWarm regards,\nMargaret"
    for who, what in [
        ("Robert", "the gala"),
        ("Susan", "the board"),
        ("Alan", "the trip"),
        ("James", "dinner"),
        ("Anne", "the fund"),
        ("Kimberly", "the play"),
        ("Thomas", "the auction"),
    ]
]


def test_the_classifier_attributes_unseen_texts_to_the_person_who_writes_like_them():
    attributor = Attributor.train({"phil": TERSE[:5], "margaret": WARM[:5]})
    assert attributor.labels == ["margaret", "phil"] and attributor.trained_on == {"margaret": 5, "phil": 5}
    assert attributor.attribute(TERSE[5:] + WARM[5:]) == ["phil", "phil", "margaret", "margaret"]


def test_one_profile_is_not_enough_to_attribute():
    import pytest

    from core.errors import UsageError

    with pytest.raises(UsageError, match="at least two profiles"):
        Attributor.train({"phil": TERSE})


def test_fact_match_reads_greeting_closing_and_length_band():
    expected = expectations_for(ProfileFacts.of(measure(t) for t in TERSE))
    assert fact_match("Bob,\nnumbers for May attached. call me.\n-Phil", expected) == {
        "greeting": True,
        "closing": True,
        "length_band": True,
    }
    assert fact_match("Hello Bob! Here are the numbers.\n\nBest,\nPhillip", expected) == {
        "greeting": False,
        "closing": False,
        "length_band": True,
    }
    assert fact_match("numbers. " * 80, expected)["length_band"] is False
    # a stored real text whose closing the cleaner kept apart is read with it
    assert fact_match("Bob,\nnumbers for May attached.", expected, signoff="-Phil\nGas Trader")["closing"] is True


def test_length_error_is_relative_to_the_real_body():
    assert length_error("one two three four", "Bob,\none two.\n-Phil") == 1.0
    assert length_error("one two", "one two") == 0.0
    assert length_error("x", "") is None


def _profile(store: Store, name: str, texts: list[str]) -> list:
    profile = store.create_profile(name)
    with store.transaction() as db:
        for n, text in enumerate(texts):
            db.execute(
                "INSERT INTO documents (profile_id, text, content_hash, split) VALUES (?, ?, ?, ?)",
                (profile.id, text, hashlib.sha256(text.encode()).hexdigest(), "test" if n >= 5 else "train"),
            )
    return [d for d in store.documents(profile.id) if d.split == "test"]


def test_profile_measures_report_each_method_against_the_real_text():
    store = Store.open(resolve_paths().store_file)
    held_out = _profile(store, "phil", TERSE)
    _profile(store, "margaret", WARM)
    texts = {
        "agent": {
            held_out[0].id: "Bob,\nfiling numbers attached. call me.\n-Phil",
            held_out[1].id: "Sue,\nmemo attached.\n-Phil",
        },
        "large": {held_out[0].id: WARM[0], held_out[1].id: WARM[1]},
    }
    measures = profile_measures(store, store.get_profile("phil"), held_out, texts, samples=200)
    assert measures["attribution"]["profiles"] == ["margaret", "phil"]
    rows = measures["methods"]
    assert list(rows) == ["real", "agent", "large"]
    assert rows["agent"]["attribution"]["right"] == 2 and rows["large"]["attribution"]["right"] == 0
    assert rows["real"]["attribution"]["right"] == 2
    assert (
        rows["agent"]["fact_match"]["closing"]["matched"] == 2
        and rows["large"]["fact_match"]["closing"]["matched"] == 0
    )
    assert rows["real"]["length_error"]["estimate"] == 0.0
    assert rows["large"]["length_error"]["estimate"] > 1.0
    section = "\n".join(measures_markdown(measures))
    assert "| agent | 2 | 100%" in section and "| large | 2 | 0%" in section


def test_the_attribution_matrix_counts_whose_texts_each_agent_writes():
    attributor = Attributor.train({"phil": TERSE[:5], "margaret": WARM[:5]})
    matrix = attribution_matrix(attributor, ["phil", "margaret"], {"phil": TERSE[5:], "margaret": [TERSE[5], WARM[6]]})
    assert matrix["counts"] == [[2, 0], [1, 1]]
    assert matrix["shares"] == [[1.0, 0.0], [0.5, 0.5]]
    assert matrix["rows_max_on_diagonal"] == 1  # a tie is no hit
