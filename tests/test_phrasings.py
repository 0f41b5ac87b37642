"""Phrasings learned from edits (issue 16): the swaps a person makes in pa's finals, found by
code, applied to the next final at once and shown as pa's."""

from __future__ import annotations

from core.style.fact_rows import fact_rows
from core.style.final_check import Expectations, FinalChecker
from core.style.phrasings import LINE_BREAK, Phrasing, apply, found_in, learned_phrasings, swaps
from core.style.profile_facts import ProfileFacts
from core.style.text_facts import measure
from tests.test_edits import CALL_AT_4, saved_draft, workspace  # noqa: F401  (fixture)

FINAL_1 = (
    "Dear Sue,\n\nI hope this email finds you well. Thank you for the summary regarding the call! "
    "Additionally, the notes look good.\n\nBest regards,\nJeff"
)
SENT_1 = "Hi Sue,\n\nThanks for the summary about the call. Also, the notes look good.\n\nCheers,\nJeff"
FINAL_2 = (
    "Dear Paul,\n\nI hope this email finds you well. Regarding the filing, thank you for the review.\n\nBest,\nJeff"
)
SENT_2 = "Hi Paul,\n\nAbout the filing, thanks for the review.\n\nCheers,\nJeff"


def test_an_edit_shows_its_swaps_and_deleted_stock_sentences_but_not_its_greeting_or_closing():
    found = {key: new for key, (_, new) in swaps(FINAL_1, SENT_1).items()}
    assert found == {
        ("i hope this email finds you well.", ""): "",
        ("thank you", "thanks"): "Thanks",
        ("regarding", "about"): "about",
        ("!", "."): ".",
        ("additionally", "also"): "Also",
    }  # "Dear" -> "Hi" and the sign-off are the greeting and closing checks' business


def test_a_swap_made_in_two_edits_is_learned_and_one_made_once_is_not():
    learned = {
        (p.old.lower(), p.new.lower()): p.edits for p in learned_phrasings([(FINAL_1, SENT_1), (FINAL_2, SENT_2)])
    }
    assert learned == {
        ("i hope this email finds you well.", ""): 2,
        ("thank you", "thanks"): 2,
        ("regarding", "about"): 2,
    }  # "Additionally" and "!" were swapped in one edit only
    assert learned_phrasings([(FINAL_1, SENT_1)]) == []


def test_numbers_changed_and_texts_sent_unchanged_teach_nothing():
    moved = [
        (f"Hi Tom,\n\nThe call is at {h}pm.\n\nJeff", f"Hi Tom,\n\nThe call is at {h + 1}pm.\n\nJeff") for h in (2, 3)
    ]
    assert learned_phrasings(moved + moved) == []  # a time, a date, a sum: one text's content
    assert learned_phrasings([(SENT_1, SENT_1), (SENT_2, SENT_2), ("", "Hi Sue,\n\nDone.\n\nJeff")]) == []


def test_a_later_sent_text_that_keeps_the_old_form_unlearns_the_swap():
    kept = ("Hi Sue,\n\nThank you for the notes.\n\nJeff", "Hi Sue,\n\nThank you for the notes, really.\n\nJeff")
    learned = {p.old.lower() for p in learned_phrasings([(FINAL_1, SENT_1), (FINAL_2, SENT_2), kept])}
    assert "thank you" not in learned and "regarding" in learned


def test_applying_keeps_the_case_of_a_sentence_start_and_leaves_greeting_and_closing_alone():
    learned = learned_phrasings([(FINAL_1, SENT_1), (FINAL_2, SENT_2)])
    final = (
        "Dear Karen,\n\nI hope this email finds you well. Thank you for the memo regarding the budget.\n\n"
        "Regarding Friday, thank you again.\n\nThank you,\nJeff"
    )
    assert [p.old.lower() for p in found_in(final, learned)] == [p.old.lower() for p in learned]
    assert apply(final, learned) == (
        "Dear Karen,\n\nThanks for the memo about the budget.\n\nAbout Friday, thanks again.\n\nThank you,\nJeff"
    )
    assert found_in(apply(final, learned), learned) == []


def test_the_final_check_repairs_a_learned_phrasing_and_says_it_is_pas():
    learned = tuple(learned_phrasings([(FINAL_1, SENT_1), (FINAL_2, SENT_2)]))
    checker = FinalChecker(Expectations(phrasings=learned))
    assert checker.active
    report = checker.check("Hi Karen,\n\nThank you for the memo regarding Friday.\n\nJeff")
    assert report.text == "Hi Karen,\n\nThanks for the memo about Friday.\n\nJeff"
    (check,) = report.checks
    assert (check.name, check.passed, check.repaired) == ("phrasing", True, True)
    assert "'thanks' for 'thank you'" in check.expected and "edits of pa's finals" in check.evidence
    assert report.original == "Hi Karen,\n\nThank you for the memo regarding Friday.\n\nJeff"
    assert "repaired by pa: phrasing" in report.summary()


BROKEN_1 = "Hi Sue,\n\nThe call moved to 3pm.\nThe room is the same.\n\nCheers,\nJeff"
JOINED_1 = "Hi Sue,\n\nThe call moved to 3pm. The room is the same.\n\nCheers,\nJeff"
BROKEN_2 = "Hi Paul,\n\n- the filing is due Thursday\n- send the draft first\n\nCheers,\nJeff"
JOINED_2 = "Hi Paul,\n\n- the filing is due Thursday - send the draft first\n\nCheers,\nJeff"


def test_lines_of_a_paragraph_joined_in_two_edits_are_learned_and_joined_in_the_next_final():
    (joins,) = learned_phrasings([(BROKEN_1, JOINED_1), (BROKEN_2, JOINED_2)])
    assert (joins.old, joins.new, joins.edits) == (LINE_BREAK, " ", 2)
    assert learned_phrasings([(BROKEN_1, JOINED_1)]) == []  # one edit could be about that text alone
    final = "Hi Karen,\n\nThe memo is done.\nIt goes out today.\n\nThe budget is next.\n\nCheers,\nJeff"
    report = FinalChecker(Expectations(phrasings=(joins,))).check(final)
    assert report.text == "Hi Karen,\n\nThe memo is done. It goes out today.\n\nThe budget is next.\n\nCheers,\nJeff"
    (check,) = report.checks
    assert check.repaired and "joins the lines of a paragraph" in check.expected
    listed = [row.form for row in fact_rows(ProfileFacts.of([measure(final)], phrasings=[joins]).as_dict())]
    assert "joins the lines of a paragraph into one" in listed  # as pa style lists it


def test_a_later_sent_text_with_lines_inside_a_paragraph_unlearns_the_joining():
    kept = ("Hi Sue,\n\nDone.\n\nJeff", "Hi Sue,\n\nDone.\nSee you at 3.\n\nJeff")
    assert learned_phrasings([(BROKEN_1, JOINED_1), (BROKEN_2, JOINED_2), kept]) == []


def test_two_sent_edits_make_the_next_drafts_check_apply_the_swap_and_pa_style_lists_it(workspace):  # noqa: F811
    workspace.create_profile("maya")
    for final, sent in ((FINAL_1, SENT_1), (FINAL_2, SENT_2)):
        workspace.record_sent("maya", saved_draft(workspace, "maya", final=final), sent, source="tui")
    checker = workspace.draft_context("maya").final_checker(CALL_AT_4, with_sent=True)
    assert checker is not None
    assert checker.check("Hi Sue,\n\nRegarding the call: it moved to 4pm.\n\nJeff").text == (
        "Hi Sue,\n\nAbout the call: it moved to 4pm.\n\nJeff"
    )
    rows = [row for row in fact_rows(workspace.style_facts("maya").as_dict()) if row.texts.endswith("edits")]
    assert [(row.form, row.texts, row.quoted) for row in rows][:1] == [
        ("deletes 'I hope this email finds you well.'", "2 edits", False)
    ]
    assert {row.form for row in rows} >= {"'thanks' for 'thank you'", "'About' for 'Regarding'"}
    assert Phrasing("regarding", "about", 2).describe() == "'about' for 'regarding'"
