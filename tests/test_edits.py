"""Learning from the person's edits (issue 16): the sent text is stored beside its draft.

`Workspace.record_sent` is what every view calls when the person sends a text pa drafted (the
TUI's final pane, `pa draft --edit`, `pa feedback`): it stores the text, calls no model and
never overwrites the draft.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sys

import pytest

from core.config import Config
from core.drafting import DraftEvent, DraftRequest, DraftTranscript
from core.edit_rules import EditRuleCandidate, EditRuleIndex, aspect_of, checker_for, merge_rules, merged_rules
from core.errors import UsageError
from core.llm.scripted import ScriptedBackend
from core.tagged import Parsed, TextLength, parse_rules
from core.workspace import Workspace
from tests.test_distill import CountingBackend, by_stage
from tests.test_distill_steps import GuidedCounting


@pytest.fixture
def workspace(pa_home):
    opened = Workspace.open()
    yield opened
    opened.close()


REPORT = DraftRequest("- the report is late", recipient="tom@enron.com", subject="report")
CALL_AT_4 = DraftRequest("- tell Sue the call moved to 4pm", recipient="sue.mara@enron.com", subject="call")


def saved_draft(
    workspace: Workspace, profile: str, final: str = "Hi Tom, the report is late. Jeff", request: DraftRequest = REPORT
) -> int:
    """A draft as `pa draft` saves it: the agent's rules and the final M_L wrote from them."""
    transcript = DraftTranscript()
    transcript.apply(DraftEvent("rules", "done", "- Open with the first name", model="agent"))
    transcript.apply(DraftEvent("final", "done", final, model="large"))
    return workspace.save_draft(profile, request, transcript, agent="maya/agent/v1")


def test_a_sent_text_is_stored_beside_its_draft_which_stays_as_pa_wrote_it(workspace):
    workspace.create_profile("maya")
    draft_id = saved_draft(workspace, "maya")
    sent_id = workspace.record_sent("maya", draft_id, "Tom -\n\nThe report is late.\n\nJeff\n", source="editor")
    assert workspace.record_sent("maya", draft_id, "Tom -\n\nThe report is late.\n\nJeff", source="editor") == sent_id
    (row,) = workspace.store.sent_edit_rows(workspace.profile("maya").id)
    assert (row["id"], row["sent"], row["source"]) == (sent_id, "Tom -\n\nThe report is late.\n\nJeff", "editor")
    assert (row["intent"], row["recipient"], row["draft_rules"]) == (
        "- the report is late",
        "tom@enron.com",
        "- Open with the first name",
    )
    assert workspace.history_entry("maya", draft_id).final == "Hi Tom, the report is late. Jeff"


def test_an_unknown_draft_another_profiles_draft_or_an_empty_text_is_refused_and_nothing_stored(workspace):
    workspace.create_profile("maya")
    workspace.create_profile("jeff")
    draft_id = saved_draft(workspace, "maya")
    with pytest.raises(UsageError, match="no draft with id 99"):
        workspace.record_sent("maya", 99, "text", source="feedback")
    with pytest.raises(UsageError, match=f"draft #{draft_id} belongs to another profile"):
        workspace.record_sent("jeff", draft_id, "text", source="feedback")
    with pytest.raises(UsageError, match="empty"):
        workspace.record_sent("maya", draft_id, " \n ", source="tui")
    with pytest.raises(UsageError, match="source 'mail'"):
        workspace.record_sent("maya", draft_id, "text", source="mail")
    assert workspace.store.query("SELECT COUNT(*) AS n FROM sent_edits")[0]["n"] == 0


# -- learning from edits -------------------------------------------------------------------------


def small_config() -> Config:
    config = Config()
    config.distill.max_tokens = 48
    config.distill.max_attempts = 1
    config.embedded.threads = 1
    return config


@pytest.fixture(scope="module")
def smol():
    """The embedded SmolLM2 (M_L), loaded once for this file."""
    from core.llm.specs import open_backend

    backend = open_backend("embedded", small_config())
    backend.load()
    return backend


@pytest.mark.slow
def test_an_edit_is_distilled_into_rules_and_a_killed_call_resumes_without_asking_again(workspace, smol):
    workspace.config = small_config()
    workspace.create_profile("maya")
    draft_id = saved_draft(workspace, "maya")
    sent_id = workspace.record_sent("maya", draft_id, "Tom -\n\nThe report will be late.\n\nJeff", source="editor")
    unchanged_id = workspace.record_sent("maya", saved_draft(workspace, "maya", "Fine."), "Fine.\n", source="tui")

    first = GuidedCounting(smol, cancel_after=1)  # killed when the first guided step (<thinking>) is in

    async def interrupted():
        first.victim = asyncio.current_task()
        await workspace.learn_from_edits("maya", large=first)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(interrupted())
    assert len(first.completed) == 1
    (step,) = workspace.store.query("SELECT * FROM edit_steps")
    assert (step["sent_edit_id"], step["step"], step["model"]) == (sent_id, 0, "embedded")
    assert workspace.store.query("SELECT COUNT(*) AS n FROM edit_rules")[0]["n"] == 0

    second = GuidedCounting(smol)
    summary = asyncio.run(workspace.learn_from_edits("maya", large=second))
    assert set(first.completed).isdisjoint(second.completed), "the resumed call asked for a step it had"
    assert len(second.completed) == 1 == summary.calls  # only the <rules> step was left
    assert (summary.edits, summary.unchanged, summary.learned + summary.failed) == (2, 1, 1)
    # The model saw pa's final as the draft and the sent text as the person's email.
    (user,) = [message.content for message in second.prompts[0] if message.role == "user"]
    person, draft = user.split("A draft written from the same notes:")
    assert "The report will be late." in person and "Hi Tom, the report is late. Jeff" in draft
    (call,) = workspace.store.query("SELECT * FROM edit_calls")
    assert call["raw"].startswith("<thinking>\n" + step["text"]) and call["sent_edit_id"] == sent_id
    assert workspace.store.query("SELECT COUNT(*) AS n FROM edit_steps")[0]["n"] == 0

    rows = {row["sent_edit_id"]: row for row in workspace.store.query("SELECT * FROM edit_rules")}
    assert (rows[unchanged_id]["status"], rows[unchanged_id]["rules"]) == ("unchanged", None)
    learned = rows[sent_id]
    if learned["status"] == "ok":  # a stored result is one the validator accepts, with the sent text's length
        length = TextLength.of("Tom -\n\nThe report will be late.\n\nJeff")
        parsed = parse_rules(learned["raw"], call["finish_reason"], length=length)
        assert isinstance(parsed, Parsed) and parsed.content == learned["rules"]
        (example,) = workspace.store.edit_training_rows(workspace.profile("maya").id)
        assert (example["id"], example["intent"], example["target"]) == (
            sent_id,
            "- the report is late",
            parsed.content,
        )
    else:
        assert learned["error"] and learned["rules"] is None

    again = GuidedCounting(smol)
    assert asyncio.run(workspace.learn_from_edits("maya", large=again)).edits == 0 and again.completed == []


# -- rules from edits at draft time --------------------------------------------------------------

LEARNED = "<thinking>The person opens with the name and a dash.</thinking>\n<rules>\n- Open with 'Sue -' on its own line\n- Write the time as 3pm\n</rules>"
"""What M_L answers for the edit here (scripted: what is specified is where the rules go next)."""


@pytest.mark.slow
async def test_rules_learned_from_an_edit_reach_the_final_prompt_marked_as_from_that_edit(pa_home, tiny_agent):
    config = Config.model_validate(
        {"drafting": {"max_tokens": 24, "rules_max_tokens": 40, "temperature": 0.0, "seed": 0, "check_final": False}}
    )
    config.embedded.threads = 1
    workspace = Workspace.open(config=config)
    earlier = saved_draft(workspace, "tiny", "Hi Sue, the call moved. Jeff", CALL_AT_4)  # to Sue, a close intent
    workspace.record_sent("tiny", earlier, "Sue -\n\nThe call is at 4pm now.\n\nJeff", source="editor")
    learned = await workspace.learn_from_edits("tiny", large=ScriptedBackend(LEARNED))
    assert learned.learned == 1

    from core.llm.specs import open_backend

    large = CountingBackend(open_backend("embedded", config))
    workspace.draft_context("tiny")._backends[config.models.large] = large  # M_L, with every prompt it gets kept
    request = DraftRequest("- tell Sue the call moved to 3pm", recipient="sue.mara@enron.com", subject="call")
    started = workspace.draft("tiny", request, naive=False)  # the final's prompt is what this is about
    transcript = DraftTranscript()
    async for event in started.events:
        transcript.apply(event)

    uses = {use.rule: use for use in transcript.edit_rules}
    length = "- Length: about 9 words, 1 sentence, 3 paragraphs."  # pa counted it from the sent text
    assert set(uses) == {"- Open with 'Sue -' on its own line", "- Write the time as 3pm", length}
    greeting = uses["- Open with 'Sue -' on its own line"]
    assert (greeting.draft_id, greeting.aspect, greeting.same_recipient) == (earlier, "greeting", True)
    assert greeting.label.startswith(f"from your edit of draft #{earlier} (")
    assert greeting.replaced == ("- No greeting.",)  # the agent's rule on the same aspect gives way
    final_prompts = [m for m in large.prompts if "How this person writes" in m[-1].content]
    (final_prompt,) = final_prompts
    rules_part = final_prompt[-1].content.split("How this person writes")[1]
    assert "- Open with 'Sue -' on its own line" in rules_part and "- Write the time as 3pm" in rules_part
    assert "- No greeting." not in rules_part
    assert transcript.final_rules() in final_prompt[-1].content

    draft_id = workspace.save_draft("tiny", request, transcript, agent=started.agent.label)
    stored = workspace.history_entry("tiny", draft_id)
    assert [(use["rule"], use["draft_id"]) for use in stored.edit_rules] == [
        ("- Open with 'Sue -' on its own line", earlier),
        ("- Write the time as 3pm", earlier),
        (length, earlier),
    ]
    assert stored.rules == transcript.text("rules")  # the agent's own rules are kept as it wrote them
    workspace.close()


def test_the_newest_edit_wins_on_the_same_aspect_and_rules_without_one_add_up():
    older = EditRuleCandidate(("- Open with 'Hi Tom,'", "- Keep it to two sentences"), 1, 1, "2026-12-01", 0.9, True)
    newer = EditRuleCandidate(("- Open with 'Tom -'", "- Use the word 'asap'"), 4, 2, "2026-12-02", 0.7, False)
    merged, uses = merge_rules(
        "- Start with 'Hello Tom.'\n- Be brief, about 40 words\n- Sign off: Jeff", [older, newer]
    )
    assert merged.splitlines() == [
        "- Sign off: Jeff",
        "- Open with 'Tom -'",
        "- Use the word 'asap'",
        "- Keep it to two sentences",
    ]
    assert [(use.draft_id, use.aspect) for use in uses] == [(4, "greeting"), (4, None), (1, "length")]
    assert uses[0].replaced == ("- Start with 'Hello Tom.'",)
    assert merged_rules("- Start with 'Hello Tom.'\n- Be brief, about 40 words\n- Sign off: Jeff", uses) == merged
    assert aspect_of("End with 'Thanks, Jeff'") == "closing" and aspect_of("Use plain words") is None


# -- the command line ----------------------------------------------------------------------------


def sent_rows(pa_home) -> list[dict]:
    with Workspace.open() as opened:
        return [dict(row) for row in opened.store.query("SELECT * FROM sent_edits ORDER BY id")]


def test_pa_feedback_records_the_sent_text_from_a_file_or_stdin(pa, pa_home, tmp_path, monkeypatch):
    with Workspace.open() as opened:
        opened.create_profile("maya")
        draft_id = saved_draft(opened, "maya")
    sent = tmp_path / "sent.txt"
    sent.write_text("Tom -\n\nThe report is late.\n\nJeff\n", encoding="utf-8")
    from_file = pa("feedback", draft_id, "--profile", "maya", "--file", sent, "--no-learn", "--json")
    assert from_file.exit_code == 0, from_file.stderr
    assert json.loads(from_file.stdout)["recorded"] == {"draft_id": draft_id, "sent_edit_id": 1}
    monkeypatch.setattr("sys.stdin", io.StringIO("Tom, late again. Jeff"))
    from_stdin = pa("feedback", draft_id, "--profile", "maya", "--file", "-", "--no-learn")
    assert from_stdin.exit_code == 0 and "recorded the text you sent for draft" in from_stdin.stdout
    assert [(row["sent"], row["source"]) for row in sent_rows(pa_home)] == [
        ("Tom -\n\nThe report is late.\n\nJeff", "feedback"),
        ("Tom, late again. Jeff", "feedback"),
    ]
    (shown,) = json.loads(pa("history", "--profile", "maya", "--id", draft_id, "--json").stdout)
    assert [edit["sent"] for edit in shown["sent"]] == ["Tom -\n\nThe report is late.\n\nJeff", "Tom, late again. Jeff"]
    assert shown["final"] == "Hi Tom, the report is late. Jeff"  # the draft stays as pa wrote it
    assert "Tom, late again. Jeff" in pa("history", "--profile", "maya", "--id", draft_id).stdout


def test_pa_feedback_refuses_bad_input_in_one_line_and_stores_nothing(pa, pa_home, tmp_path):
    with Workspace.open() as opened:
        opened.create_profile("maya")
        draft_id = saved_draft(opened, "maya")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    cases = [
        (("feedback", 99, "-p", "maya", "--file", empty), "no draft with id 99"),
        (("feedback", draft_id, "-p", "maya", "--file", empty), "is empty; nothing was stored"),
        (("feedback", draft_id, "-p", "maya", "--file", tmp_path / "missing.txt"), "missing.txt: cannot read"),
        (("feedback", draft_id, "-p", "maya", "--file", latin), "latin.txt: cannot read (UnicodeDecodeError)"),
        (("feedback", "-p", "maya"), "give the DRAFT_ID"),
    ]
    for args, message in cases:
        result = pa(*args, "--no-learn")
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sent_rows(pa_home) == []


def test_pa_draft_edit_without_an_editor_says_so_before_any_model_loads(pa, monkeypatch):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    result = pa("draft", "ask Bob to move the meeting", "--profile", "nobody", "--edit")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --edit needs your editor: set $VISUAL or $EDITOR (e.g. export EDITOR=nano) and run again"
    )


@pytest.mark.slow
def test_pa_draft_edit_records_what_the_person_kept_and_learns_from_it(pa, pa_home, tiny_agent, tmp_path, monkeypatch):
    # 32 tokens: SmolLM2's 24-token naive draft is refused as an echo of the prompt, twice (and a
    # refused naive draft stops `pa draft`); the test is about the edit, not the naive draft
    (pa_home / "config.toml").write_text(
        "[drafting]\nmax_tokens = 32\nrules_max_tokens = 40\ntemperature = 0.0\nseed = 1\ncheck_final = false\n"
        "[distill]\nmax_tokens = 32\nmax_attempts = 1\n[embedded]\nthreads = 1\n",
        encoding="utf-8",
    )
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys; open(sys.argv[1], 'w').write('Sue -\\n\\nThe call is at 3pm now.\\n\\nJeff\\n')\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    with Workspace.open() as opened:  # an earlier edit, learned from (scripted M_L: its rules are known)
        earlier = saved_draft(opened, "tiny", "Hi Sue, the call moved. Jeff", CALL_AT_4)
        opened.record_sent("tiny", earlier, "Sue -\n\nThe call is at 4pm.\n\nJeff", source="feedback")
        assert asyncio.run(opened.learn_from_edits("tiny", large=ScriptedBackend(LEARNED))).learned == 1
    options = ("--profile", "tiny", "--to", "sue.mara@enron.com", "--subject", "call", "--edit")
    intent = "- tell Sue the call moved to 3pm"
    result = pa("draft", *options, "--json", "--", intent)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {use["rule"]: use["label"][:26] for use in data["edit_rules"]} == {
        "- Open with 'Sue -' on its own line": f"from your edit of draft #{earlier}",
        "- Write the time as 3pm": f"from your edit of draft #{earlier}",
        "- Length: about 8 words, 1 sentence, 3 paragraphs.": f"from your edit of draft #{earlier}",
    }
    assert "- Open with 'Sue -' on its own line" in data["final_rules"] and "- No greeting." not in data["final_rules"]
    assert data["sent"]["draft_id"] == data["draft_id"] and data["sent"]["changed"] is True
    learning = data["sent"]["learning"]
    # One answer from the real M_L (written in two guided steps), learned from or failed with its reason.
    assert (learning["edits"], learning["calls"], learning["learned"] + learning["failed"]) == (1, 1, 1)
    (_, row) = sent_rows(pa_home)
    assert (row["draft_id"], row["source"], row["sent"]) == (
        data["draft_id"],
        "editor",
        "Sue -\n\nThe call is at 3pm now.\n\nJeff",
    )

    monkeypatch.setenv("EDITOR", "false")  # an editor that fails: nothing is recorded, the draft stays saved
    failed = pa("draft", *options, "--", intent)
    assert failed.exit_code == 1
    (line,) = failed.stderr.strip().splitlines()
    assert "the editor 'false' exited with status 1" in line and "pa feedback" in line
    assert len(sent_rows(pa_home)) == 2
    assert "pa added rules learned from your edits" in failed.stdout  # marked in the text view too
    lenders = {earlier, data["draft_id"]} if learning["learned"] else {earlier}  # SmolLM2's rules, when valid
    assert any(f"from your edit of draft #{lender} (" in failed.stdout for lender in lenders)


# -- incremental re-import -----------------------------------------------------------------------


def test_reimporting_the_sent_folder_adds_only_new_mail_and_distill_only_asks_for_the_new(
    pa, pa_home, enron_dir, tmp_path
):
    """The person's sent mail grows; importing the same folder again stores only the new
    messages (Message-ID and text hash), the old ones keep their split, and `pa distill` asks
    M_L only about the new documents (finished stages are skipped)."""
    files = sorted((enron_dir / "staab-t" / "sent_items").glob("*.eml"), key=lambda p: int(p.stem))
    folder = tmp_path / "sent"
    folder.mkdir()
    for file in files[:12]:
        shutil.copy(file, folder / file.name)
    assert pa("import", folder, "--profile", "staab").exit_code == 0
    with Workspace.open() as opened:
        old = {d.id: d.split for d in opened.documents("staab")}
        first = asyncio.run(opened.distill("staab", large=ScriptedBackend(by_stage())))
        calls_before = opened.store.query("SELECT id, document_id, raw FROM distill_calls ORDER BY id")
    assert first.calls > 0 and {row["document_id"] for row in calls_before} == set(old)

    for file in files[12:20]:  # eight more messages sent since
        shutil.copy(file, folder / file.name)
    again = pa("import", folder, "--profile", "staab", "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    with Workspace.open() as opened:
        now = {d.id: d.split for d in opened.documents("staab")}
        new = set(now) - set(old)
        assert report["imported"] == len(new) > 0 and report["dropped"]["duplicate"] >= len(old)
        assert {i: now[i] for i in old} == old  # stored documents never move between splits
        scripted = ScriptedBackend(by_stage())
        second = asyncio.run(opened.distill("staab", large=scripted))
        calls_after = opened.store.query("SELECT id, document_id, raw FROM distill_calls ORDER BY id")
    assert second.stages["intent"].skipped == len(old)
    assert [dict(row) for row in calls_after[: len(calls_before)]] == [dict(row) for row in calls_before]
    asked_about = {row["document_id"] for row in calls_after[len(calls_before) :]}
    assert asked_about == new and len(scripted.calls) == second.calls


def test_pas_final_check_leaves_the_aspects_an_edit_corrected_to_the_edit():
    from core.style.final_check import Expectations, FinalChecker

    measured = FinalChecker(
        Expectations(
            greeting=("Hi NAME,", "9 of 10 texts"), valediction=("Thanks,", "8 of 10 texts"), banned=("exclamations",)
        )
    )
    edit = EditRuleCandidate(
        ("- Open with 'Sue -' on its own line", "- End on a question!"), 3, 1, "2026-12-02", 0.8, True
    )
    _, uses = merge_rules("- Be brief", [edit])
    narrowed = checker_for(measured, uses)
    text = "Sue -\n\nCan we meet at 3pm!\n\nThanks,\nJeff"
    measured_report = measured.check(text)  # the corpus habit would "repair" the person's correction away
    assert {c.name for c in measured_report.checks if c.repaired} == {"greeting", "exclamations"}
    assert measured_report.text != text
    report = narrowed.check(text)
    assert report.text == text and report.failed == []  # nothing "repaired" back to the measured habit
    assert [c.name for c in report.checks] == ["valediction"]  # the closing was not corrected: still checked
    assert checker_for(measured, ()) is measured


def test_the_persons_last_sent_texts_set_the_next_drafts_greeting_and_closing(workspace):
    workspace.create_profile("maya")
    context = workspace.draft_context("maya")
    assert context.final_checker(CALL_AT_4, with_sent=True) is None  # no texts, no facts: nothing to check
    for n in range(3):
        draft_id = saved_draft(workspace, "maya", final=f"Dear Tom!\nItem {n} is late.\nBest regards,\n[Your Name]")
        workspace.record_sent("maya", draft_id, f"Hi Tom,\n\nItem {n} is late.\n\nCheers,\nJeff", source="tui")
    checker = context.final_checker(CALL_AT_4, with_sent=True)  # the workspace measured the sent texts again
    assert checker is not None
    assert context.final_checker(CALL_AT_4) is None  # compare and eval: the agent on the corpus alone
    assert checker.expected.greeting == ("Hi NAME,", "your last 3 sent texts")
    assert checker.expected.valediction == ("Cheers,", "your last 3 sent texts")
    report = checker.check("Dear [Name],\n\nThe call moved to 4pm!\n\nBest regards,\n[Your Name]\n[Your Title]")
    assert report.text == "Hi Sue,\n\nThe call moved to 4pm!\n\nCheers,\nJeff"  # too few texts to ban "!"
    edit = EditRuleCandidate(("- Open with 'Sue -' on its own line",), 1, 1, "2026-12-02", 0.8, True)
    _, uses = merge_rules("- Be brief", [edit])
    assert checker_for(checker, uses) is not None
    assert checker_for(checker, uses).expected.greeting == checker.expected.greeting  # as new as the edit rule
    assert "sent_texts" in workspace.style_facts("maya").as_dict()


async def test_a_draft_after_three_sent_texts_is_repaired_to_their_greeting_and_closing(pa_home, tiny_agent):
    """Through `Workspace.draft`, as every view drafts: the tiny agent writes the rules, a
    scripted M_L the final with a model's greeting and sign-off block, pa repairs both."""
    config = Config.model_validate({"drafting": {"max_tokens": 24, "rules_max_tokens": 40, "temperature": 0.0}})
    config.embedded.threads = 1
    workspace = Workspace.open(config=config)
    for n in range(3):
        draft_id = saved_draft(workspace, "tiny", f"Item {n} is late.\nJeff", REPORT)
        workspace.record_sent("tiny", draft_id, f"Hi Tom,\n\nItem {n} is late.\n\nCheers,\nJeff", source="tui")
    large = ScriptedBackend("Dear [Name],\n\nThe call moved to 3pm.\n\nBest regards,\n[Your Name]\n[Your Title]")
    workspace.draft_context("tiny")._backends[config.models.large] = large
    started = workspace.draft("tiny", DraftRequest("- tell Sue the call moved to 3pm", recipient="sue.mara@enron.com"))
    transcript = DraftTranscript()
    async for event in started.events:
        transcript.apply(event)
    workspace.close()
    assert transcript.text("final") == "Hi Sue,\n\nThe call moved to 3pm.\n\nCheers,\nJeff"
    checks = {check.name: check for check in transcript.streams["final"].checks.checks}
    assert checks["greeting"].repaired and checks["greeting"].evidence == "your last 3 sent texts"
    assert checks["valediction"].repaired and checks["valediction"].expected == "'Cheers,'"


@pytest.mark.slow
def test_edits_on_similar_intents_are_retrieved_with_minilm_the_same_recipient_first():
    def row(sent_edit_id: int, intent: str, recipient: str) -> dict:
        return {
            "sent_edit_id": sent_edit_id,
            "draft_id": 10 + sent_edit_id,
            "intent": intent,
            "recipient": recipient,
            "rules": f"- rule of edit {sent_edit_id}",
            "sent_at": "2026-12-03 10:00:00",
        }

    index = EditRuleIndex(
        [
            row(1, "- tell Sue the call moved to 4pm", "bob@enron.com"),
            row(2, "- tell Sue the call moved to the afternoon", "Sue.Mara@enron.com"),
            row(3, "- order twelve boxes of printer paper", "sue.mara@enron.com"),
        ],
        k=3,
        min_similarity=0.5,
    )
    found = index.candidates("- tell Sue the call moved to 3pm", "sue.mara@enron.com")
    assert [(c.sent_edit_id, c.same_recipient) for c in found] == [(2, True), (1, False)]
    assert found[1].similarity > found[0].similarity  # the closer intent, yet the same recipient ranks first
    assert found[0].rules == ("- rule of edit 2",) and found[0].draft_id == 12
    assert EditRuleIndex([], 3, 0.5).candidates("- anything", None) == []


def test_when_m_l_cannot_be_reached_the_sent_text_stays_recorded_and_the_error_says_so(pa, pa_home, tmp_path):
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(
        '[models]\nlarge = "openai:m"\n[openai]\nbase_url = "http://127.0.0.1:9/v1"\nmax_retries = 1\ntimeout = 5\n',
        encoding="utf-8",
    )
    with Workspace.open() as opened:
        opened.create_profile("maya")
        draft_id = saved_draft(opened, "maya")
    sent = tmp_path / "sent.txt"
    sent.write_text("Tom -\n\nLate.\n\nJeff\n", encoding="utf-8")
    result = pa("feedback", draft_id, "--profile", "maya", "--file", sent)  # learning is on by default
    assert result.exit_code == 1
    announce, line = result.stderr.strip().splitlines()
    assert announce == "learning rules from your edits with M_L..." and line.startswith("error: ")
    assert "127.0.0.1:9" in line and "your sent texts are stored" in line
    assert "pa feedback --profile maya --learn" in line
    (row,) = sent_rows(pa_home)
    assert row["sent"] == "Tom -\n\nLate.\n\nJeff"
    with Workspace.open() as opened:
        assert opened.store.sent_edit_rows(opened.profile("maya").id, undistilled=True)  # still to learn from
