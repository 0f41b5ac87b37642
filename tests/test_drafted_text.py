"""Never show the prompt as a draft (issue 13, item 7).

Every written text (naive draft, final, baselines) goes through one check in core: copied
prompt blocks are cut, an answer that is only an echo is asked for once more with a note,
and a second echo is a failure, never a draft. Small local models get the plain prompt form,
which has no tag blocks to copy back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.drafting import (
    DraftRejected,
    DraftRequest,
    DraftTranscript,
    _template,
    final_messages,
    prompt_echo,
    prompt_form,
    stream_final,
    stream_naive,
    zero_shot_messages,
)
from core.llm.scripted import ScriptedBackend
from core.tagged import Parsed, PromptEcho, Rejected, parse_written
from tests.test_drafting import profile, store, trained_agent  # noqa: F401  (fixtures)

JONAS = DraftRequest("thank Jonas for the oak boards and ask for the invoice")
ECHO = "<details>\n(none given)\n</details>"
EMAIL = "Hi Jonas,\n\nThanks for the oak boards. Could you send me the invoice?\n\nTheresa"
TAG = re.compile(r"<\s*/?\s*(details|intent|preference_rules|example|metadata|previous_message)\s*>", re.I)


def test_an_answer_that_only_echoes_the_prompt_is_rejected():
    messages = zero_shot_messages(JONAS)
    echo = PromptEcho.of("\n".join(m.content for m in messages))
    assert isinstance(parse_written(ECHO, echo=echo), Rejected)
    copied = "<details>\n(none given)\n</details>\nWhat the email must say:\n<intent>\nthank Jonas for the oak boards and ask for the invoice\n</intent>"
    assert isinstance(parse_written(copied, echo=echo), Rejected)


def test_echoed_blocks_are_cut_and_the_email_kept_with_a_note():
    echo = PromptEcho.of("\n".join(m.content for m in zero_shot_messages(JONAS)))
    result = parse_written(f"{ECHO}\n\nSure! Here is the email:\n{EMAIL}", echo=echo)
    assert isinstance(result, Parsed)
    assert result.content == EMAIL
    assert any("tagged blocks" in note for note in result.notes)


def test_an_email_written_twice_keeps_one_copy_and_says_what_was_cut():
    twice = (
        "Here's a rewritten version of the email with improved style:\n\nDear Jonas,\n\n"
        "Thanks for the oak boards. Could you send me the invoice?\n\n\n"
        "This is a rewritten version of the email:\n\nDear Jonas,\n\n"
        "Thanks for the oak boards. Could you send me the invoice?"
    )
    result = parse_written(twice)
    assert isinstance(result, Parsed)
    assert result.content == "Dear Jonas,\n\nThanks for the oak boards. Could you send me the invoice?"
    assert any("second copy" in note for note in result.notes)


def test_a_subject_line_above_the_email_is_cut_and_short_repeated_lines_stay():
    result = parse_written("Subject: Oak boards\n\nHi Jonas,\nThanks!\nInvoice please.\nThanks!\nTheresa")
    assert isinstance(result, Parsed)
    assert result.content == "Hi Jonas,\nThanks!\nInvoice please.\nThanks!\nTheresa"
    assert result.notes == ()


def test_a_models_note_on_its_changes_after_the_text_is_cut_and_an_email_about_changes_kept():
    noted = (
        "Hi Sam,\n\nThe report slips to Friday.\n\nMaya\n\n"
        "I made several changes to improve clarity, grammar, and style:\n- Changed the opening\n- Added a comma"
    )
    result = parse_written(noted)
    assert isinstance(result, Parsed) and result.content == "Hi Sam,\n\nThe report slips to Friday.\n\nMaya"
    assert any("changes it made" in note for note in result.notes)
    only_a_note = (
        "I've made some minor adjustments to improve clarity and grammar. I broke the sentence in two.\n\nMaya"
    )
    assert parse_written(only_a_note) == Rejected("the answer is only a note on changes the model made, with no text")
    for about in (
        "Hi Sam,\n\nI made some changes to the contract; see the attached copy.\nThe rest is as agreed.\n\nMaya",
        "Hi Sam,\n\nHere are the changes to the schedule:\n- Monday off\n- Friday at 9\n\nMaya",
    ):
        assert parse_written(about) == Parsed(about, None, ())


def test_short_lines_the_prompt_shares_stay_in_the_text():
    request = DraftRequest("say yes", previous="Hi Theresa,\nCan you come?\nThanks,\nJonas")
    echo = PromptEcho.of("\n".join(m.content for m in zero_shot_messages(request)))
    result = parse_written("Hi Jonas,\nYes, I can come.\nThanks,\nTheresa", echo=echo)
    assert isinstance(result, Parsed) and result.content.startswith("Hi Jonas,") and "Thanks," in result.content


async def test_an_echo_is_asked_for_again_once_with_a_note():
    backend = ScriptedBackend([ECHO, EMAIL], spec="large")
    transcript = DraftTranscript()
    async for event in stream_naive(backend, JONAS):
        transcript.apply(event)
    assert transcript.text("naive") == EMAIL
    assert len(backend.calls) == 2
    retry = backend.calls[1][0]
    assert retry[-2].role == "assistant" and retry[-2].content == ECHO
    assert "only repeated the request" in retry[-1].content
    assert any("asked again" in note for note in transcript.streams["naive"].notes)
    assert [e.kind for e in transcript.events if e.kind == "started"] == ["started", "started"]


async def test_a_second_echo_is_a_failure_never_a_draft():
    backend = ScriptedBackend(ECHO, spec="large")
    events = []
    with pytest.raises(DraftRejected, match="no final text"):
        async for event in stream_final(backend, JONAS, "- Be brief"):
            events.append(event)
    assert len(backend.calls) == 2
    assert not any(e.kind == "done" for e in events)


def test_small_local_models_get_the_plain_prompt_form(large):
    assert prompt_form(large) == "plain"
    assert prompt_form(ScriptedBackend("x", spec="openai:gpt-4o")) == "tagged"
    plain = zero_shot_messages(JONAS, form="plain")
    assert not any(TAG.search(m.content) for m in plain)
    assert "thank Jonas for the oak boards and ask for the invoice" in plain[-1].content


@pytest.fixture(scope="module")
def large():
    from core.config import Config
    from core.llm.specs import open_backend

    return open_backend("embedded", Config())


def test_pa_draft_prints_a_real_email_not_the_prompt(pa, trained_agent, pa_home: Path):  # noqa: F811
    """The issue's own command, on the embedded M_L and a really trained agent (greedy, so it repeats)."""
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(
        "[drafting]\nmax_tokens = 48\nrules_max_tokens = 48\ntemperature = 0.0\nseed = 0\n", encoding="utf-8"
    )
    result = pa("draft", JONAS.intent, "--profile", "jeff", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    for stream in ("naive", "final"):
        text = data[stream]
        assert not TAG.search(text), f"{stream} shows the prompt: {text!r}"
        assert "(none given)" not in text and "must say" not in text
        assert len(re.findall(r"[A-Za-z]{2,}", text)) >= 8, f"{stream} is no email: {text!r}"


@pytest.mark.parametrize(
    "answer",
    [
        "Hi James,\n<report>\n\nCheers,\nJeff",
        "Hi Susan,\n[Your email is now complete, and I'll be happy to help with your report.]\n\nCheers,\nJeff",
        "Dear Jonas,\n\n...\n\nBest regards,\nTheresa",
    ],
)
def test_a_placeholder_between_greeting_and_closing_is_no_draft(answer):
    result = parse_written(answer)
    assert isinstance(result, Rejected) and "only a placeholder or a note" in result.reason


def test_a_bracketed_aside_inside_a_sentence_is_text():
    text = "Hi Sue,\n\nThe call moved [again] to 4pm (sorry).\n\nCheers,\nJeff"
    assert parse_written(text) == Parsed(text, None, ())


async def test_a_regeneration_that_rewords_pas_feedback_has_that_line_cut():
    from core.drafting import stream_checked_final
    from core.style.final_check import Expectations, FinalChecker
    from core.style.profile_facts import Band

    long = "Hi Jonas,\n\n" + "The oak boards came and they are very fine boards indeed. " * 6 + "\n\nTheresa"
    reworded = (
        "Hi Jonas,\n- Length: expected 5-20 words (1st percentile of 9 texts); the text has 66 words, a bit long.\n"
        "Thanks for the oak boards. Could you send me the invoice?\n\nTheresa"
    )
    backend = ScriptedBackend([long, reworded], spec="large")
    checker = FinalChecker(Expectations(band=Band(5, 20, 9)))
    transcript = DraftTranscript()
    async for event in stream_checked_final(backend, JONAS, "- Be brief", checker):
        transcript.apply(event)
    assert "expected 5-20 words" in backend.calls[1][0][-1].content  # pa's feedback, as the model read it
    assert transcript.text("final") == EMAIL.replace("\n\n", "\n", 1)
    assert any("repeat the prompt" in note for note in transcript.streams["final"].notes)


@pytest.mark.parametrize(
    ("answer", "content", "note", "kept"),
    [
        pytest.param(
            "Hi Sue,\n\nDear Sarah,\n\nSubject: Filing\n\nThanks for the notes.\n<p>I reviewed the filing.</p>\n"
            "[Here is the complete email without all of the tags.]\n\nCheers,\nJeff",
            "Hi Sue,\n\nThanks for the notes.\nI reviewed the filing.\n\nCheers,\nJeff",
            "4 piece(s) of model debris",
            "Hi Sue,\n\nThe subject: filing costs. [Attached: the notes]\n\nCheers,\nJeff",
            id="debris inside the text",
        ),
        pytest.param(
            "Sam, the report will be ready on Friday. Please let the board know.\n\n"
            "In this version, I've used a friendly tone while still maintaining professional language.\n\nMaya",
            "Sam, the report will be ready on Friday. Please let the board know.",
            "note on the changes it made",  # the note and what follows it
            "Hi Sam,\n\nIn this version, the totals include March.\n\nMaya",  # a person's sentence: no "I"
            id="a note on how it wrote this version",
        ),
    ],
)
def test_a_models_words_about_its_text_are_cut_and_noted_and_a_persons_like_line_stays(answer, content, note, kept):
    result = parse_written(answer)
    assert isinstance(result, Parsed)
    assert result.content == content
    assert any(note in n for n in result.notes)
    assert parse_written(kept) == Parsed(kept, None, ())


def test_a_line_that_is_only_a_bracketed_placeholder_is_cut_as_debris():
    answer = "Hi Sue,\n\nPlease find the contract template below.\n[Template]\n\n[Your response here]\n\nCheers,\nJeff"
    result = parse_written(answer)
    assert isinstance(result, Parsed)
    assert result.content == "Hi Sue,\n\nPlease find the contract template below.\n\nCheers,\nJeff"
    assert any("2 piece(s) of model debris" in note and "placeholder in brackets" in note for note in result.notes)


def test_a_copied_rules_list_is_an_echo_alone_or_inside_an_email():
    request = DraftRequest("- ask Paul for the draft filing", recipient="paul.kaufman@enron.com", subject="filing")
    messages = final_messages(request, "- One line.\n- No greeting.\n- Sign off: Jeff", "email", "plain")
    echo = prompt_echo(messages, _template("final", "plain"))
    alone = parse_written("- One line.\n- No greeting.\n- Sign off: Jeff", echo=echo)
    assert isinstance(alone, Rejected) and "repeats the prompt" in alone.reason
    inside = parse_written("Dear Paul,\n\n- One line.\n- No greeting.\n\nThe draft is attached.", echo=echo)
    assert inside == Parsed("Dear Paul,\n\nThe draft is attached.", None, ("pa cut 2 line(s) that repeat the prompt",))
    cut_off = parse_written("Dear Paul,\n\nThe draft is attached.\n- Sign", "length", echo=echo)
    assert isinstance(cut_off, Parsed) and cut_off.content == "Dear Paul,\n\nThe draft is attached."
    template = parse_written("Hi Paul,\n\nHow this person writes (follow it\nThe draft is attached.", echo=echo)
    assert isinstance(template, Parsed) and template.content == "Hi Paul,\n\nThe draft is attached."


def test_a_models_sentence_about_its_own_text_is_cut():
    result = parse_written("Hi Sue,\n\nThe call moved.\n\nThe email is now complete.\n\nJeff")
    assert isinstance(result, Parsed) and result.content == "Hi Sue,\n\nThe call moved.\n\nJeff"


def test_a_models_comment_on_its_rewrite_is_cut_and_a_persons_sentence_about_their_mail_stays():
    comment = (
        'This revised email includes a clear call-to-action, using the phrase "please ensure", '
        "which encourages Sam to share the report."
    )
    result = parse_written(f"Sam, the report is ready for your review.\n\n{comment}\n\nMaya")
    assert isinstance(result, Parsed) and result.content == "Sam, the report is ready for your review.\n\nMaya"
    edited = "This version has been edited to remove any typos, keeping the rest of the text intact."
    assert (
        parse_written(f"Sam, the report is ready.\n\n{edited}\n\nMaya").content == "Sam, the report is ready.\n\nMaya"
    )
    persons = parse_written("Sam,\n\nThis email includes the figures for Monday.\n\nMaya")
    assert (
        isinstance(persons, Parsed) and persons.content == "Sam,\n\nThis email includes the figures for Monday.\n\nMaya"
    )
