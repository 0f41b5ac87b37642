"""Learning from the person's edits (issue 16): the sent text is stored beside its draft.

`Workspace.record_sent` is what every view calls when the person sends a text pa drafted (the
TUI's final pane, `pa draft --edit`, `pa feedback`): it stores the text, calls no model and
never overwrites the draft.
"""

from __future__ import annotations

import asyncio

import pytest

from core.config import Config
from core.drafting import DraftEvent, DraftRequest, DraftTranscript
from core.errors import UsageError
from core.tagged import Parsed, TextLength, parse_rules
from core.workspace import Workspace
from tests.test_distill_steps import GuidedCounting


@pytest.fixture
def workspace(pa_home):
    opened = Workspace.open()
    yield opened
    opened.close()


def saved_draft(workspace: Workspace, profile: str, final: str = "Hi Tom, the report is late. Jeff") -> int:
    """A draft as `pa draft` saves it: the agent's rules and the final M_L wrote from them."""
    transcript = DraftTranscript()
    transcript.apply(DraftEvent("rules", "done", "- Open with the first name", model="agent"))
    transcript.apply(DraftEvent("final", "done", final, model="large"))
    request = DraftRequest("- the report is late", recipient="tom@enron.com", subject="report")
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
    assert user.index("Hi Tom, the report is late. Jeff") < user.index("The report will be late.")
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
        assert (example["id"], example["intent"], example["target"]) == (sent_id, "- the report is late", parsed.content)
    else:
        assert learned["error"] and learned["rules"] is None

    again = GuidedCounting(smol)
    assert asyncio.run(workspace.learn_from_edits("maya", large=again)).edits == 0 and again.completed == []
