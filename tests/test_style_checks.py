"""The checked final: a drafted text is held against the person's measured style facts, fixed
by pa where that is safe, and regenerated once (with the failed checks named) where not."""

from __future__ import annotations

import hashlib

import pytest

from core.config import Config
from core.drafting import (
    DraftContext,
    DraftRequest,
    DraftTranscript,
    stream_checked_final,
)
from core.llm.base import GenerationOptions
from core.llm.scripted import ScriptedBackend
from core.paths import resolve_paths
from core.store import Store
from core.style.final_check import FinalChecker, check_text, expectations_for
from core.style.profile_facts import ProfileFacts
from core.style.text_facts import find_greeting, measure

THERESA_TEXTS = [
    f"Hi {name},\n\nThe {thing} is {state} now. Please check it when you can.\n\nThanks,\nTheresa"
    for name, thing, state in [
        ("Sam", "report", "ready"),
        ("Ann", "budget", "final"),
        ("Bo", "memo", "out"),
        ("Sam", "plan", "signed"),
        ("Jo", "deal", "closed"),
        ("Ann", "model", "fixed"),
    ]
]
REQUEST = DraftRequest("tell Sam the report slips to Friday", recipient="Sam Hill <sam.hill@example.com>")


@pytest.fixture
def theresa() -> ProfileFacts:
    return ProfileFacts.of(measure(text) for text in THERESA_TEXTS)


def checker_for(facts: ProfileFacts, request: DraftRequest = REQUEST) -> FinalChecker:
    return FinalChecker.for_request(facts, request.recipient, request.subject, request.previous)


def test_the_expectations_come_from_clear_habits_only(theresa):
    expected = expectations_for(theresa, REQUEST.recipient)
    assert expected.greeting == ("Hi NAME,", "6 of 6 texts")
    assert expected.valediction == ("Thanks,", "6 of 6 texts")
    assert expected.signed_name == ("Theresa", "6 of 6 texts")
    assert expected.banned == ("exclamations", "emoji")
    assert expected.band is not None and expected.band.holds(11)
    assert expected.greet_name == "Sam"
    assert expectations_for(theresa, "sam.hill@example.com").greet_name == "Sam"
    assert expectations_for(theresa, "jsmith@example.com").greet_name is None  # not guessed from an address
    few = ProfileFacts.of(measure(text) for text in THERESA_TEXTS[:3])
    assert not FinalChecker.for_request(few).active  # three texts prove nothing


def test_a_final_missing_the_persons_closing_is_repaired(theresa):
    report = checker_for(theresa).check("Hi Sam,\n\nThe report is late now. Please check it when you can.")
    assert report.text.endswith("Please check it when you can.\n\nThanks,\nTheresa")
    assert report.passed and not report.regenerated
    by_name = {c.name: c for c in report.checks}
    assert by_name["valediction"].repaired and by_name["signed_name"].repaired
    assert by_name["greeting"].passed and not by_name["greeting"].repaired
    assert report.original == "Hi Sam,\n\nThe report is late now. Please check it when you can."


def test_a_wrong_closing_and_greeting_are_replaced_with_the_persons_own(theresa):
    report = checker_for(theresa).check(
        "Dear Sam:\n\nThe report is late now. Please check it soon.\n\nBest regards,\nT. Smith"
    )
    assert report.text == "Hi Sam,\n\nThe report is late now. Please check it soon.\n\nThanks,\nTheresa"
    assert report.passed and {c.name for c in report.checks if c.repaired} == {"greeting", "valediction", "signed_name"}


def test_a_models_whole_sign_off_block_gives_way_to_the_persons_closing(theresa):
    report = checker_for(theresa).check(
        "Hi Sam,\n\nThe report is late now. Please check it soon.\n\nBest regards,\n[Your Name]\n[Your Position]\n[Company Name]"
    )
    assert report.text == "Hi Sam,\n\nThe report is late now. Please check it soon.\n\nThanks,\nTheresa"
    assert {c.name for c in report.checks if c.repaired} == {"valediction", "signed_name"}
    assert report.original is not None and "[Your Position]" in report.original  # what pa changed stays on record


def test_what_a_model_writes_under_its_own_sign_off_goes_with_it(theresa):
    model = (
        "Hi Sam,\n\nThe report is late now. Please check it soon, and tell me what you think of it.\n\n"
        "Best regards,\n\nSarah,\n\nP.S. Just let me know.\n\nEnd of the email."
    )
    report = checker_for(theresa).check(model)
    assert report.text.endswith("tell me what you think of it.\n\nThanks,\nTheresa")


def test_a_sentence_after_the_valediction_is_not_taken_for_a_sign_off_block(theresa):
    text = "Hi Sam,\n\nThe report is late.\n\nThanks,\nTheresa\n\nCould you also send me the figures for the second quarter?"
    assert "second quarter?" in checker_for(theresa).check(text).text


def test_a_placeholder_in_the_greeting_takes_the_recipients_name(theresa):
    report = checker_for(theresa).check(
        "Hi [Name],\n\nThe report is late now. Please check it soon.\n\nThanks,\nTheresa"
    )
    assert report.text.startswith("Hi Sam,\n\nThe report is late now.")
    assert "[Name]" not in report.text


def test_a_missing_greeting_takes_the_recipients_name_from_the_request(theresa):
    report = checker_for(theresa).check("The report is late now. Please check it soon.\n\nThanks,\nTheresa")
    assert report.text.startswith("Hi Sam,\n\nThe report is late now.")


def test_banned_marks_and_a_misspelt_name_are_fixed_by_pa(theresa):
    report = checker_for(theresa).check("Hi Sam,\n\nThe report is late now! Ask Theressa why 🙂\n\nThanks,\nTheresa")
    assert "!" not in report.text and "🙂" not in report.text and "Theressa" not in report.text
    assert {c.name for c in report.checks if c.repaired} == {"exclamations", "emoji", "name_spelling"}
    assert report.passed


def test_a_length_outside_the_band_needs_the_model_and_the_feedback_names_it(theresa):
    long_text = "Hi Sam,\n\n" + "The report is late. " * 30 + "\n\nThanks,\nTheresa"
    report = checker_for(theresa).check(long_text)
    assert report.needs_model and [c.name for c in report.failed] == ["length"]
    assert "length: expected 6-16 words" in report.feedback() and "120 words" in report.feedback()
    assert "failed: length" in report.summary()


def test_a_person_without_a_clear_habit_is_not_held_to_one():
    mixed = [
        f"{greeting}\nItem {i} is done today.\n\n{closing}"
        for i, (greeting, closing) in enumerate(
            [
                ("Hi Sam,", "Thanks,\nT"),
                ("Dear Ann,", "Best,\nTheresa"),
                ("Bo,", "Cheers"),
                ("Hey Jo,", "T"),
                ("All,", "Regards,\nTheresa"),
            ]
        )
    ]
    checks = check_text(
        "Hello Sam!\nItem 9 is done today.", expectations_for(ProfileFacts.of(measure(t) for t in mixed))
    )
    assert not {c.name for c in checks} & {"greeting", "valediction", "signed_name"}


# -- in the drafting stream ------------------------------------------------------------------


async def test_the_checked_final_stream_repairs_the_closing_and_reports_the_checks(theresa):
    large = ScriptedBackend("Hi Sam, the report slips to Friday. Please warn the board when you can.")
    events = [e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker_for(theresa))]
    done = events[-1]
    assert done.kind == "done" and done.stream == "final"
    assert done.text.endswith("when you can.\n\nThanks,\nTheresa")
    assert done.checks is not None and done.checks.passed
    assert done.checks.as_dict()["by"] == "pa"
    assert len(large.calls) == 1  # a safe repair needs no model


async def test_a_final_outside_the_length_band_is_regenerated_once_with_the_failed_check_named(theresa):
    too_long = "Hi Sam,\n\n" + ("The report slips to Friday. " * 30).strip() + "\n\nThanks,\nTheresa"
    right = "Hi Sam,\n\nThe report slips to Friday. Please warn the board.\n\nThanks,\nTheresa"
    large = ScriptedBackend([too_long, right])
    transcript = DraftTranscript()
    for event in [e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker_for(theresa))]:
        transcript.apply(event)
    assert len(large.calls) == 2
    retry = large.calls[1][0]
    assert retry[-2].role == "assistant" and retry[-2].content == too_long.strip()
    assert "length: expected" in retry[-1].content
    final = transcript.streams["final"]
    assert final.text == right and final.live_text == right  # the regenerated text replaced the first one
    assert final.checks.regenerated and final.checks.passed and final.checks.original == too_long.strip()
    assert final.usage.completion_tokens > len(right.split())  # both calls are counted


async def test_a_real_models_final_gets_the_persons_closing(theresa):
    from core.llm.specs import open_backend

    large = open_backend("embedded", Config())
    options = GenerationOptions(temperature=0.0, max_tokens=16, seed=0)
    events = [
        e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker_for(theresa), options=options)
    ]
    done = events[-1]
    assert done.text.endswith("\n\nThanks,\nTheresa")
    assert {c.name: c.passed for c in done.checks.checks}["signed_name"]


# -- configured in the drafting context ------------------------------------------------------


def _theresa_profile() -> tuple[Store, DraftContext]:
    paths = resolve_paths()
    store = Store.open(paths.store_file)
    profile = store.create_profile("theresa")
    with store.transaction() as db:
        for text in THERESA_TEXTS:
            db.execute(
                "INSERT INTO documents (profile_id, text, content_hash, split) VALUES (?, ?, ?, 'train')",
                (profile.id, text, hashlib.sha256(text.encode()).hexdigest()),
            )
    return store, DraftContext.open("theresa", paths=paths, store=store)


def test_the_check_is_on_by_default_for_the_agent_and_off_for_the_paper_baselines():
    _, context = _theresa_profile()
    assert context.checks_final("agent")
    assert not any(context.checks_final(m) for m in ("small", "large", "few-shot", "naive-finetune", "no-baseline"))
    assert context.final_checker(REQUEST) is not None


def test_the_check_can_be_turned_off_in_config():
    paths = resolve_paths()
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("[drafting]\ncheck_final = false\n", encoding="utf-8")
    _, context = _theresa_profile()
    assert not context.checks_final("agent") and context.final_checker(REQUEST) is None


# -- the views -------------------------------------------------------------------------------


def test_pa_draft_shows_which_checks_passed(pa, tiny_trained_agent):
    import json

    store, _ = _theresa_profile()
    store.close()
    tiny_trained_agent.install(resolve_paths(), "theresa", with_documents=False)
    resolve_paths().config_file.write_text(
        "[drafting]\nmax_tokens = 24\nrules_max_tokens = 48\ntemperature = 0.0\nseed = 0\n", encoding="utf-8"
    )
    result = pa(
        "draft",
        "--profile",
        "theresa",
        "--to",
        REQUEST.recipient,
        "--json",
        "--",
        "- remind Sue about the filing deadline",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["final"].endswith("\n\nThanks,\nTheresa")
    assert find_greeting(data["final"])[0].form == "Hi NAME,"  # the form the person uses (the name is the model's)
    checks = data["final_checks"]
    assert checks["by"] == "pa" and {"greeting", "valediction", "signed_name", "length"} <= {
        c["name"] for c in checks["checks"]
    }
    assert all(c["passed"] for c in checks["checks"] if c["name"] != "length")
    compare = pa(
        "compare",
        "--profile",
        "theresa",
        "--to",
        REQUEST.recipient,
        "--baselines",
        "agent",
        "--json",
        "--",
        "- remind Sue",
    )
    assert compare.exit_code == 0, compare.stderr
    assert json.loads(compare.stdout)["methods"][0]["checks"]["by"] == "pa"


def test_the_plain_view_prints_each_check_with_its_outcome(theresa, capsys):
    from core.cli.draft_cmd import _print_checks
    from core.drafting import StreamRecord

    report = checker_for(theresa).check("Hi Sam,\n\nThe report is late now! Please check it when you can.")
    _print_checks(StreamRecord(checks=report))
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "pa checked the final against the measured style facts: 7 of 7 checks passed" in out
    assert "repaired valediction: expected 'Thanks,', found 'Thanks,' (6 of 6 texts)" in out
    assert "ok greeting: expected 'Hi NAME,'" in out


async def test_a_regeneration_that_only_echoes_the_prompt_keeps_the_first_text_and_says_so(theresa):
    too_long = "Hi Sam,\n\n" + ("The report slips to Friday. " * 30).strip() + "\n\nThanks,\nTheresa"

    def reply(messages, options):
        if len(messages) <= 2:
            return too_long
        return next(
            m.content for m in messages if m.content.startswith("pa checked this text")
        )  # only repeats pa's request

    large = ScriptedBackend(reply)
    events = [e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker_for(theresa))]
    done = events[-1]
    assert done.text == too_long and not done.checks.regenerated
    assert [c.name for c in done.checks.failed] == ["length"]  # shown as failed, not hidden
    assert any("the kept text stays" in note for note in done.notes)


async def test_a_regeneration_further_outside_the_length_band_keeps_the_first_text_and_says_so(theresa):
    too_long = "Hi Sam,\n\n" + ("The report slips to Friday. " * 30).strip() + "\n\nThanks,\nTheresa"
    longer = "Hi Sam,\n\n" + ("The report slips to Friday. " * 40).strip() + "\n\nThanks,\nTheresa"
    large = ScriptedBackend([too_long, longer])
    events = [e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker_for(theresa))]
    done = events[-1]
    assert len(large.calls) == 2 and done.text == too_long and not done.checks.regenerated
    assert [c.name for c in done.checks.failed] == ["length"]
    assert any("further from the checks" in note for note in done.notes)


async def test_more_regenerations_keep_the_text_closest_to_the_checks_each_with_the_next_seed(theresa):
    too_long = "Hi Sam,\n\n" + ("The report slips to Friday. " * 30).strip() + "\n\nThanks,\nTheresa"
    closer = "Hi Sam,\n\n" + ("The report slips to Friday. " * 12).strip() + "\n\nThanks,\nTheresa"
    longer = "Hi Sam,\n\n" + ("The report slips to Friday. " * 40).strip() + "\n\nThanks,\nTheresa"
    large = ScriptedBackend([too_long, closer, longer])
    checker = checker_for(theresa)
    checker.regenerations = 2
    options = GenerationOptions(seed=7)
    events = [e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker, options=options)]
    done = events[-1]
    assert len(large.calls) == 3
    assert [call[1].seed for call in large.calls] == [7, 7, 8]  # the same request twice needs another seed
    assert large.calls[2][0][-2].content == closer.strip()  # the next try starts from the closest text so far
    assert done.text == closer and done.checks.regenerated and done.checks.written == 3
    assert "the closest of 3 texts kept" in done.checks.summary()
    assert any("further from the checks" in note for note in done.notes)


async def test_no_regeneration_is_asked_for_when_none_is_allowed(theresa):
    too_long = "Hi Sam,\n\n" + ("The report slips to Friday. " * 30).strip() + "\n\nThanks,\nTheresa"
    large = ScriptedBackend([too_long])
    checker = checker_for(theresa)
    checker.regenerations = 0
    done = [e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker)][-1]
    assert len(large.calls) == 1 and done.checks.written == 1
    assert [c.name for c in done.checks.failed] == ["length"]


async def test_a_small_model_is_asked_the_same_prompt_again_with_the_next_seed_not_told_the_checks(theresa):
    too_long = "Hi Sam,\n\n" + ("The report slips to Friday. " * 30).strip() + "\n\nThanks,\nTheresa"
    right = "Hi Sam,\n\nThe report slips to Friday. Please warn the board.\n\nThanks,\nTheresa"
    large = ScriptedBackend([too_long, right])
    large.prompt_form = "plain"  # what a small local GGUF gets (core.drafting.prompt_form)
    options = GenerationOptions(seed=7)
    events = [
        e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker_for(theresa), options=options)
    ]
    (first, first_options), (again, again_options) = large.calls
    assert again == first  # no feedback turn that it would answer instead of writing the text
    assert (first_options.seed, again_options.seed) == (7, 8)
    assert events[-1].text == right and events[-1].checks.regenerated


async def test_a_first_write_that_only_echoes_the_prompt_is_written_again_with_the_next_seed(theresa):
    fits = "Hi Sam,\n\nThe report slips to Friday; I will send it then.\n\nThanks,\nTheresa"
    large = ScriptedBackend(lambda messages, options: messages[-1].content if options.seed in (3, 4) else fits)
    checker = checker_for(theresa)
    events = [
        e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker, options=GenerationOptions(seed=3))
    ]
    done = events[-1]
    # write 1: seed 3 and its retry (seed 4) echo; write 2: the first prompt again, seed 4 echoes, its retry writes
    assert [call[1].seed for call in large.calls] == [3, 4, 4, 5]
    assert done.text == fits and done.checks.written == 2 and "regenerated once" in done.checks.summary()
    assert any("pa's write 1 gave no text" in note and "pa wrote again" in note for note in done.notes)


async def test_without_regenerations_a_first_write_that_only_echoes_is_no_draft(theresa):
    from core.drafting import DraftRejected

    large = ScriptedBackend(lambda messages, options: messages[-1].content)
    checker = checker_for(theresa)
    checker.regenerations = 0
    with pytest.raises(DraftRejected):
        [e async for e in stream_checked_final(large, REQUEST, "- Be brief.", checker)]
    assert len(large.calls) == 2  # the write and its one retry, nothing more
