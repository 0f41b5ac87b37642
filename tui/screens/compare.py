"""Compare: the preference agent and every baseline of the paper for one intent, side by side.

Each method streams in its own worker (one group, so a new intent cancels them all). A method
whose model is not trained shows "unavailable" with the command that trains it.
"""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Static

from tui.messages import IntentSubmitted
from tui.screens.base import PaScreen
from tui.widgets.intent_input import IntentInput
from tui.widgets.stream_pane import StreamPane

METHOD_ORDER = ("agent", "small", "large", "few-shot", "naive-finetune", "no-baseline")


class CompareScreen(PaScreen):
    MODE = "compare"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+g", "rerun", "Run again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.intent: str | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="compare"):
            with Grid(id="compare-grid"):
                for method in METHOD_ORDER:
                    yield StreamPane(method, method, id=f"method-{method}")
            yield Static("Type an intent (or bring one from the draft screen) and press Enter.", id="compare-status")
            yield IntentInput(id="compare-intent")

    def on_mount(self) -> None:
        self.query_one(IntentInput).focus()
        self.reload()

    def reload(self) -> None:
        """Offer the intent last drafted, so comparing it is one Enter away."""
        box = self.query_one(IntentInput)
        last = self.session.current_intent
        if last and not box.text.strip() and last != self.intent:
            box.text = last

    def pane(self, method: str) -> StreamPane:
        return self.query_one(f"#method-{method}", StreamPane)

    @on(IntentSubmitted)
    def _intent_submitted(self, message: IntentSubmitted) -> None:
        intent = message.text.strip()
        if not intent:
            self.notify("type an intent first", severity="warning", timeout=4)
            return
        self.query_one(IntentInput).clear()
        self.run_all(intent)

    def action_rerun(self) -> None:
        if self.intent:
            self.run_all(self.intent)

    def run_all(self, intent: str) -> None:
        self.workers.cancel_group(self, "compare")
        self.intent = intent
        self.session.current_intent = intent
        self.query_one("#compare-status", Static).update(f"comparing: {intent.splitlines()[0][:70]}")
        for method in METHOD_ORDER:
            self.run_method(method, intent)

    @work(group="compare", exit_on_error=False)
    async def run_method(self, method: str, intent: str) -> None:
        from core.drafting import DraftRequest

        pane = self.pane(method)
        await pane.reset()
        profile = self.session.require_profile()
        why = await asyncio.to_thread(self.workspace.unavailable, profile, method)
        if why:
            await pane.show(f"*unavailable:* {why}", state="unavailable")
            return
        try:
            async for event in self.workspace.stream_method(profile, method, DraftRequest(intent)):
                if event.stream == "rules":
                    if event.kind == "started":
                        await pane.reset("writing rules")
                    continue
                if event.kind == "started":
                    await pane.reset("starting")
                elif event.kind == "delta":
                    await pane.append(event.text)
                else:
                    usage = event.usage
                    generating = (usage.seconds - (usage.first_token_seconds or 0.0)) if usage else 0.0
                    await pane.finish(event.text, usage.completion_tokens if usage else 0, generating, note=f"{event.at:.1f}s")
        except asyncio.CancelledError:
            await pane.stop("cancelled")
            raise
        except Exception:
            await pane.stop("failed")
            raise

    def action_cancel(self) -> None:
        running = [w for w in self.workers if w.group == "compare" and w.is_running]
        if not running:
            return
        self.workers.cancel_group(self, "compare")
        box = self.query_one(IntentInput)
        if self.intent and not box.text.strip():
            box.text = self.intent
        self.notify("cancelled; the intent is back in the box", timeout=3)
