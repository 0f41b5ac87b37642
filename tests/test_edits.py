"""Learning from the person's edits (issue 16): the sent text is stored beside its draft.

`Workspace.record_sent` is what every view calls when the person sends a text pa drafted (the
TUI's final pane, `pa draft --edit`, `pa feedback`): it stores the text, calls no model and
never overwrites the draft.
"""

from __future__ import annotations

import pytest

from core.drafting import DraftEvent, DraftRequest, DraftTranscript
from core.errors import UsageError
from core.workspace import Workspace


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
