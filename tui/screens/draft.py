"""The draft screen: type an intent, watch naive | rules | final stream side by side.

To, Subject and the message being answered (Ctrl+B) go with the intent, as `pa draft --to
--subject --previous` does. The panes show each text as it will be sent.

Naive (M_L zero-shot) and the agent's rules start together; the final starts the moment the
rules are complete. Enter sends, Esc cancels and gives the intent back, a new intent cancels
the stale one (one exclusive worker group). Edited rules regenerate only the final.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from core.errors import NotTrainedError
from tui.hints import with_tui_keys
from tui.keys import AGAIN
from tui.messages import IntentSubmitted
from tui.screens.base import PaScreen
from tui.widgets.final_editor import FinalEditor
from tui.widgets.intent_input import IntentInput
from tui.widgets.stream_pane import StreamPane

STREAMS = (("naive", "naive"), ("rules", "rules"), ("final", "final"))
EDITING_NOTE = "editing"
SENT_AS_WRITTEN = "sent as written"
SENT_EDITED = "sent, edited by you"


class DraftScreen(PaScreen):
    MODE = "draft"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "edit_rules", "Rules", tooltip="Edit rules"),
        Binding(
            "ctrl+s",
            "accept_final",
            "Sent",
            tooltip="Accept the final as sent (stored with the draft, saved to a file)",
        ),
        Binding(
            "ctrl+f", "edit_final", "Edit", show=False, tooltip="Edit the final, then Ctrl+S accepts your text as sent"
        ),
        Binding("ctrl+o", "copy_pane", "Copy", tooltip="Copy the focused pane"),
        Binding("ctrl+l", "history", "History"),
        Binding(
            AGAIN, "regenerate", "Again", show=False, tooltip="Draft the same intent again (the same key as Compare's)"
        ),
        Binding(
            "ctrl+b", "edit_previous", "Reply", tooltip="The message you answer (Reply-to)", show=False
        ),  # said beside the fields
    ]

    def __init__(self) -> None:
        super().__init__()
        self.intent: str | None = None
        """The intent of the panes on screen (what Esc gives back, what edits regenerate)."""
        self.draft_id: int | None = None
        """The history row of what is on screen."""
        self.agent_rules: str | None = None
        """The rules as the agent wrote them (edits keep this as their origin)."""
        self.edited_rules: str | None = None
        self.followed_rules: str | None = None
        """The rules the final followed: the agent's with those learned from edits merged in."""
        self.agent_label: str | None = None
        self.previous: str | None = None
        """The message being answered (Ctrl+B), sent with the intent."""
        self._stream_started: dict[str, float] = {}
        self._stream_deltas: dict[str, int] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(id="draft"):
            with Horizontal(id="draft-fields"):
                yield Label("To", classes="field-label")
                yield Input(placeholder="optional", id="draft-to", compact=True)
                yield Label("Subject", classes="field-label")
                yield Input(placeholder="optional", id="draft-subject", compact=True)
                yield Static("", id="draft-reply")
            with Horizontal(id="panes"):
                for stream, title in STREAMS:
                    yield StreamPane(stream, title)
            yield Static("", id="draft-sent")
            yield Static("Type what you want to say and press Enter (Up: earlier intents).", id="draft-status")
            yield IntentInput(id="intent")

    def on_mount(self) -> None:
        self.query_one(IntentInput).focus()
        self._show_previous()
        self.reload()

    def reload(self) -> None:
        """Up in the intent box recalls this profile's earlier intents (from the history)."""
        box = self.query_one(IntentInput)
        try:
            past = (
                [entry.intent for entry in reversed(self.workspace.history(self.session.profile, 50))]
                if self.session.profile
                else []
            )
        except Exception:  # a missing profile is said when drafting; recall just starts empty
            past = []
        box.intents = []
        for intent in past:
            box.remember(intent)

    @on(Input.Submitted, "#draft-to, #draft-subject")
    def _field_submitted(self) -> None:
        self.query_one(IntentInput).focus()

    def request(self, intent: str):
        """The intent with the fields around it, as `core.drafting` takes it."""
        from core.drafting import DraftRequest

        def field(selector: str) -> str | None:
            return self.query_one(selector, Input).value.strip() or None

        return DraftRequest(
            intent, recipient=field("#draft-to"), subject=field("#draft-subject"), previous=self.previous
        )

    def _show_previous(self) -> None:
        reply = self.query_one("#draft-reply", Static)
        if self.previous:
            first = next((line for line in self.previous.splitlines() if line.strip()), "")
            reply.update(Text(f"↩ {first[:60]}", no_wrap=True, overflow="ellipsis"))
        else:
            reply.update("not a reply (Ctrl+B)")

    @work(exit_on_error=False, group="edit-previous")
    async def action_edit_previous(self) -> None:
        text = await self.app.push_screen_wait(
            EditText(
                self.previous or "",
                "The message you are replying to (Ctrl+S: keep, empty: not a reply, Esc: cancel)",
                "previous-editor",
            )
        )
        if text is not None:
            self.previous = text.strip() or None
            self._show_previous()

    # -- panes -------------------------------------------------------------------------------------

    def pane(self, stream: str) -> StreamPane:
        return self.query_one(f"#pane-{stream}", StreamPane)

    @property
    def panes(self) -> list[StreamPane]:
        return [self.pane(stream) for stream, _ in STREAMS]

    def _update_status(self, note: str = "") -> None:
        parts = []
        for pane in self.panes:
            speed = pane.tokens_per_second
            if pane.state == "streaming":
                elapsed = time.perf_counter() - self._stream_started.get(pane.stream, time.perf_counter())
                speed = self._stream_deltas.get(pane.stream, 0) / elapsed if elapsed > 0 else 0.0
            parts.append(f"{pane.stream} {speed:.1f} tok/s" if speed else f"{pane.stream} {pane.state}")
        self.query_one("#draft-status", Static).update(" · ".join(parts) + (f"  │ {note}" if note else ""))

    # -- sending -----------------------------------------------------------------------------------

    @on(IntentSubmitted)
    def _intent_submitted(self, message: IntentSubmitted) -> None:
        intent = message.text.strip()
        if not intent:
            self.notify("type an intent first: what do you want to say?", severity="warning", timeout=4)
            return
        box = self.query_one(IntentInput)
        box.remember(intent)
        box.clear()
        self.intent, self.draft_id, self.agent_rules, self.edited_rules = intent, None, None, None
        self.followed_rules = None
        self.session.current_intent = intent
        self._show_sent(intent)
        self.run_draft(self.request(intent))

    def action_regenerate(self) -> None:
        if not self.intent:
            self.notify("nothing to draft again yet: type an intent and press Enter", severity="warning", timeout=4)
            return
        self.draft_id, self.agent_rules, self.edited_rules, self.followed_rules = None, None, None, None
        self.run_draft(self.request(self.intent))

    def _show_sent(self, intent: str | None) -> None:
        """The intent of the panes stays in sight after the box is cleared for the next one."""
        lines = [line for line in (intent or "").splitlines() if line.strip()]
        text = ("Intent: " + " / ".join(line.strip() for line in lines)) if lines else ""
        self.query_one("#draft-sent", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def _give_intent_back(self) -> None:
        box = self.query_one(IntentInput)
        if self.intent and not box.text.strip():
            box.text = self.intent
            box.move_cursor(box.document.end)
        box.focus()

    @work(exclusive=True, group="draft", exit_on_error=False)
    async def run_draft(self, request) -> None:
        """Naive and agent streams for one request; any failure marks the panes and gives the intent back."""
        for pane in self.panes:
            await pane.reset()
        self._update_status("starting…")
        try:
            await self._draft(request)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            from tui.hints import describe_error

            await self._stop_running("failed")
            self._give_intent_back()
            self._update_status(f"failed: {describe_error(error)}")
            raise

    async def _draft(self, request) -> None:
        from core.drafting import DraftTranscript

        profile = self.session.require_profile()
        try:
            started = self.workspace.draft(profile, request)
        except NotTrainedError as err:  # the same refusal as `pa draft`: no text passed off as the agent's
            message = with_tui_keys(str(err))
            for pane in self.panes:
                await pane.show(f"unavailable: {message}", state="unavailable")
            self._give_intent_back()
            self._update_status("no agent yet")
            self.notify(message, title="Train the agent first", severity="warning", timeout=8)
            return
        transcript = DraftTranscript()
        await self._consume(started.events, transcript)
        final = transcript.streams.get("final")
        if final is not None and final.checks is not None:  # pa's checks of the final against the style facts
            self.notify(
                final.checks.summary(),
                title="Checked by pa",
                severity="information" if final.checks.passed else "warning",
                timeout=10,
            )
        self.agent_rules = transcript.text("rules")
        self.agent_label = started.agent.label
        self.draft_id = self.workspace.save_draft(profile, request, transcript, agent=self.agent_label)
        self._update_status("done: Ctrl+S sent as is, Ctrl+F edit it first")

    async def _consume(self, events, transcript) -> None:
        """Feed draft events into the panes; a failure or cancel marks what was streaming."""
        try:
            async for event in events:
                transcript.apply(event)
                pane = self.pane(event.stream)
                if event.kind == "started":
                    await pane.reset("starting")
                    self._stream_started[event.stream] = time.perf_counter()
                    self._stream_deltas[event.stream] = 0
                elif event.kind == "delta":
                    self._stream_deltas[event.stream] = self._stream_deltas.get(event.stream, 0) + 1
                    await pane.append(event.text)
                else:
                    usage = event.usage
                    await pane.finish(
                        event.text,
                        usage.completion_tokens if usage else 0,
                        (usage.seconds - (usage.first_token_seconds or 0.0)) if usage else 0.0,
                    )
                    if event.stream == "rules":  # pa's rules from the writer's edits, merged before the final
                        uses = [use.as_dict() for use in event.edit_rules]
                        pane.show_extra(edit_rules_note(uses))
                        self.followed_rules = transcript.final_rules()
                self._update_status()
        except asyncio.CancelledError:
            await self._stop_running("cancelled")
            raise
        except Exception:
            await self._stop_running("failed")
            raise
        finally:
            await events.aclose()

    async def _stop_running(self, state: str) -> None:
        for pane in self.panes:
            if pane.state in ("waiting", "starting", "streaming"):
                await pane.stop(state)
        self._update_status(state)

    def _draft_running(self) -> bool:
        return any(worker.group == "draft" and worker.is_running for worker in self.workers)

    def action_cancel(self) -> None:
        """Esc: stop the streams and give the intent back for editing."""
        if not self._draft_running():
            return
        self.workers.cancel_group(self, "draft")
        self._give_intent_back()
        self.notify("cancelled; your intent is back in the box", timeout=3)

    # -- rules, copy, save, history --------------------------------------------------------------

    @work(exit_on_error=False, group="edit-rules")
    async def action_edit_rules(self) -> None:
        if not self.intent or self.pane("rules").state not in ("done", "edited"):
            self.notify("no rules to edit yet: draft something first", severity="warning", timeout=4)
            return
        if self._draft_running():
            self.notify("wait for the final to finish (or Esc) before editing the rules", severity="warning", timeout=4)
            return
        rules = await self.app.push_screen_wait(EditText(self.followed_rules or self.pane("rules").text))
        if rules is not None and rules.strip():
            self.regenerate_final(rules.strip())

    @work(exclusive=True, group="draft", exit_on_error=False)
    async def regenerate_final(self, rules: str) -> None:
        from core.drafting import DraftTranscript

        assert self.intent is not None
        profile = self.session.require_profile()
        agent_rules = self.agent_rules
        self.edited_rules, self.followed_rules = rules, None
        await self.pane("rules").show(rules, state="edited")
        transcript = DraftTranscript()
        request = self.request(self.intent)
        await self._consume(self.workspace.rewrite(profile, request, rules), transcript)
        self.draft_id = self.workspace.save_draft(
            profile,
            request,
            transcript,
            agent=self.agent_label,
            rules=agent_rules,
            edited_rules=rules,
            parent_id=self.draft_id,
        )
        self._update_status("final regenerated from your rules")

    def action_copy_pane(self, stream: str | None = None) -> None:
        if stream is None:
            focused = self.focused
            stream = next(
                (pane.stream for pane in self.panes if focused is not None and pane in focused.ancestors_with_self),
                "final",
            )
        from tui.clipboard import system_copy

        text = self.pane(stream).text
        if not text.strip():
            self.notify(f"nothing copied: the {stream} pane is empty", severity="warning", timeout=3)
            return
        self.app.copy_to_clipboard(text)  # OSC 52: reaches the terminal's clipboard where it is supported
        tool = system_copy(text)
        if tool:
            self.notify(f"copied the {stream} pane ({tool})", timeout=3)
        else:
            self.notify(
                f"sent the {stream} pane to the terminal's clipboard (OSC 52); no system clipboard tool "
                "was found, so if your terminal ignores OSC 52 nothing was copied: Ctrl+S accepts the final and saves it to a file",
                severity="warning",
                timeout=8,
            )

    def _final_to_accept(self) -> StreamPane | None:
        """The final pane when it holds a finished final of a stored draft (else says why not)."""
        final = self.pane("final")
        if self._draft_running():
            self.notify("wait for the final to finish (or Esc) first", severity="warning", timeout=4)
            return None
        if self.draft_id is None or final.state not in ("done", "sent") or not final.text.strip():
            self.notify("no finished final draft yet: type an intent and press Enter", severity="warning", timeout=4)
            return None
        return final

    def action_accept_final(self) -> None:
        """Ctrl+S: the final goes out as pa wrote it; stored with its draft and saved to a file."""
        final = self._final_to_accept()
        if final is not None and self._record_sent(final.text, edited=self._differs_from_final(final.text)):
            final.mark("sent", SENT_AS_WRITTEN if final.state != "sent" else None)

    async def action_edit_final(self) -> None:
        """Ctrl+F: the final pane becomes an editor; Ctrl+S there accepts the text as sent."""
        final = self._final_to_accept()
        if final is not None and not final.editing:
            await final.start_editing(EDITING_NOTE)
            self._update_status("Ctrl+S: sent · Esc: leave")

    @on(FinalEditor.Accepted)
    async def _edit_accepted(self, message: FinalEditor.Accepted) -> None:
        message.stop()
        text = message.text.strip("\n").rstrip()
        if not text.strip():
            self.notify("the final is empty: nothing stored (Esc leaves editing)", severity="warning", timeout=5)
            return
        edited = self._differs_from_final(text)
        if self._record_sent(text, edited=edited):
            await self.pane("final").stop_editing(text, "sent", SENT_EDITED if edited else SENT_AS_WRITTEN)
            self.query_one(IntentInput).focus()

    @on(FinalEditor.Left)
    async def _edit_left(self, message: FinalEditor.Left) -> None:
        message.stop()
        await self.pane("final").stop_editing()
        self._update_status("left editing; nothing stored")
        self.query_one(IntentInput).focus()

    def _differs_from_final(self, text: str) -> bool:
        """Whether `text` is an edit of pa's final for the draft on screen (not of a text sent before)."""
        assert self.draft_id is not None
        written = self.workspace.history_entry(self.session.require_profile(), self.draft_id).final or ""
        return " ".join(text.split()) != " ".join(written.split())

    def _record_sent(self, text: str, *, edited: bool) -> bool:
        """Store `text` as what was sent for the draft on screen (`Workspace.record_sent`), keep it,
        save it to a file; an edited text is then learned from when `drafting.learn_from_edits`."""
        from core.errors import PaError
        from tui.hints import describe_error

        assert self.draft_id is not None
        profile = self.session.require_profile()
        try:
            sent_id = self.workspace.record_sent(profile, self.draft_id, text, source="tui")
            self.workspace.keep(self.draft_id, text if edited else "final")
            file = self.workspace.save_final_file(profile, self.draft_id, text)
        except PaError as err:
            self.notify(describe_error(err), title="Not stored", severity="error", timeout=8)
            return False
        what = "your edit of the final" if edited else "the final as pa wrote it"
        self.notify(f"stored {what} as sent (draft #{self.draft_id}, edit #{sent_id}); saved to {file}", timeout=6)
        self._update_status(f"draft #{self.draft_id} sent{' (edited by you)' if edited else ''}")
        if edited and self.workspace.config.drafting.learn_from_edits:
            self.learn_from_edits(profile)
        return True

    @work(exclusive=True, group="learn", exit_on_error=False)
    async def learn_from_edits(self, profile: str) -> None:
        """M_L distils rules from the edit (resumable; the sent text is stored whatever happens)."""
        self._update_status("learning from your edit with M_L…")
        summary = await self.workspace.learn_from_edits(profile)
        if summary.learned:
            self.notify(
                f"pa learned rules from {summary.learned} edit(s); the next drafts on similar intents use them",
                timeout=6,
            )
        for failure in summary.failures:  # the sent text stays stored; `pa feedback --learn` tries again
            self.notify(
                f"no rules learned from edit #{failure.document_id}: {failure.reason} (your text is stored; "
                f"`pa feedback --profile {profile} --learn` tries again)",
                severity="warning",
                timeout=10,
            )
        self._update_status(
            f"learned from your edit ({summary.learned} ok, {summary.failed} failed, {summary.calls} M_L call(s))"
        )

    @work(exit_on_error=False, group="history")
    async def action_history(self) -> None:
        entries = self.workspace.history(self.session.require_profile())
        if not entries:
            self.notify("no drafts yet for this profile", severity="warning", timeout=3)
            return
        chosen = await self.app.push_screen_wait(History(entries))
        if chosen is None:
            return
        if self._draft_running():
            self.workers.cancel_group(self, "draft")
        entry = next(e for e in entries if e.id == chosen)
        self.intent, self.draft_id, self.agent_label = entry.intent, entry.id, entry.agent_version
        self.agent_rules, self.edited_rules = entry.rules, entry.edited_rules
        naive = entry.naive
        by_id = {e.id: e for e in entries}
        parent = by_id.get(entry.parent_id) if entry.parent_id else None
        while naive is None and parent is not None:  # a regenerated final keeps its origin's naive draft
            naive = parent.naive
            parent = by_id.get(parent.parent_id) if parent.parent_id else None
        self.query_one("#draft-to", Input).value = entry.recipient or ""
        self.query_one("#draft-subject", Input).value = entry.subject or ""
        self.previous = entry.previous
        self._show_previous()
        self._show_sent(entry.intent)
        box = self.query_one(IntentInput)
        box.text = entry.intent
        box.move_cursor(box.document.end)
        await self.pane("naive").show(naive or "", "done" if naive else "empty")
        await self.pane("rules").show(
            entry.edited_rules or entry.rules or "",
            "edited" if entry.edited_rules else ("done" if entry.rules else "empty"),
        )
        if not entry.edited_rules:
            self.pane("rules").show_extra(edit_rules_note(entry.edit_rules))
        self.followed_rules = None
        await self.pane("final").show(entry.final or "", "done" if entry.final else "empty")
        self._update_status(f"draft #{entry.id} from the history")

    def palette_commands(self):
        yield from super().palette_commands()
        for stream, _ in STREAMS:
            yield SystemCommand(
                f"Copy the {stream} pane",
                "Draft screen: put its text on the clipboard",
                lambda s=stream: self.action_copy_pane(s),
            )


def edit_rules_note(uses: Sequence[Mapping[str, Any]]) -> Text:
    """The rules pa merged in from the writer's edits, apart from the agent's and marked as such,
    each with the edit it came from (and the agent's rule it replaced)."""
    if not uses:
        return Text("")
    note = Text("pa added, learned from your edits (the final followed them):\n", style="italic")
    for use in uses:
        replaced = use.get("replaced") or ()
        note.append(str(use["rule"]))
        note.append(f"  · {use['label']}", style="dim")
        if replaced:
            note.append(f"; replaces the agent's {', '.join(repr(r) for r in replaced)}", style="dim")
        note.append("\n")
    note.rstrip()
    return note


class EditText(ModalScreen[str | None]):
    """Edit a text (the agent's rules, the message answered); Ctrl+S keeps it, Esc leaves it."""

    BINDINGS = [Binding("ctrl+s", "accept", "Save"), Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        text: str,
        title: str = "Edit the rules, then Ctrl+S to regenerate the final (Esc: cancel)",
        editor_id: str = "rules-editor",
    ) -> None:
        super().__init__()
        self.text = text
        self.title_text = title
        self.editor_id = editor_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="edit-rules"):
            yield Label(self.title_text, classes="dialog-title")
            yield TextArea(self.text, id=self.editor_id, soft_wrap=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_accept(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class History(ModalScreen[int | None]):
    """Past drafts of the profile, newest first; Enter shows one again."""

    BINDINGS = [Binding("escape", "cancel", "Close")]

    def __init__(self, entries: list) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="history"):
            yield Label("Draft history (Enter: show, Esc: close)", classes="dialog-title")
            yield OptionList(
                *(
                    Option(f"#{e.id} {e.intent.splitlines()[0][:60]}" + (" ✓" if e.chosen else ""), id=str(e.id))
                    for e in self.entries
                ),
                id="history-list",
            )

    def on_mount(self) -> None:
        self.query_one("#history-list", OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
