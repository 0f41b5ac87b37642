"""Compare: the preference agent and every baseline of the paper for one intent, side by side.

One worker runs them (a new intent cancels it): one by one when M_L is a local model, where
they would only queue and every time would include the wait, at once otherwise (and the times
say so). A method whose model is not trained shows "unavailable" with the command that trains
it; the agent's rules are shown under the grid; the status line says when all are done.
"""

from __future__ import annotations

import asyncio
import time

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Static

from tui.hints import with_tui_keys
from tui.keys import AGAIN
from tui.messages import IntentSubmitted
from tui.screens.base import PaScreen
from tui.widgets.intent_input import IntentInput
from tui.widgets.stream_pane import StreamPane

METHOD_ORDER = ("agent", "small", "large", "few-shot", "naive-finetune", "no-baseline")
LOCAL_PREFIXES = ("embedded", "gguf:")


def rules_line(rules: str) -> Text:
    """The agent's rules under the grid, one rule after another on as few lines as fit."""
    shown = " · ".join(line.strip().lstrip("-•* ").strip() for line in rules.splitlines() if line.strip())
    return Text("agent's rules: " + shown, overflow="ellipsis")


def runs_on_one_local_model(config) -> bool:
    """True when M_L runs in this process (embedded or a GGUF file): methods would queue on it."""
    return config.models.large.strip().startswith(LOCAL_PREFIXES)


class CompareScreen(PaScreen):
    MODE = "compare"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding(AGAIN, "rerun", "Run again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.intent: str | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="compare"):
            with Grid(id="compare-grid"):
                for method in METHOD_ORDER:
                    yield StreamPane(method, method, id=f"method-{method}")
            yield Static("", id="compare-rules")
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
        self.query_one("#compare-rules", Static).update("")
        self.run_methods(intent)

    def _status(self, text: str) -> None:
        self.query_one("#compare-status", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    @work(group="compare", exclusive=True, exit_on_error=False)
    async def run_methods(self, intent: str) -> None:
        """Every method for one intent. On one local model the methods would only queue behind
        each other (and each time would include the wait), so they run one by one there."""
        from core.drafting import DraftRequest

        started = time.perf_counter()
        head = intent.splitlines()[0][:50]
        try:
            profile = self.session.require_profile()
            self.workspace.draft_context(profile)  # a missing agent or model: one line here, before any pane starts
        except Exception as error:
            from tui.hints import describe_error

            self._status(f"failed: {describe_error(error)}")
            self._give_intent_back()
            raise
        one_by_one = runs_on_one_local_model(self.workspace.config)
        for method in METHOD_ORDER:
            await self.pane(method).reset("queued" if one_by_one else "waiting")
        request = DraftRequest(intent)
        try:
            if one_by_one:
                for index, method in enumerate(METHOD_ORDER, 1):
                    self._status(f"{head} · {method} ({index}/{len(METHOD_ORDER)}, one at a time: one local model)")
                    await self._run_method(method, request, profile, note="")
            else:
                self._status(f"{head} · all methods at once (times overlap)")
                await asyncio.gather(*(self._run_method(m, request, profile, note=" at once") for m in METHOD_ORDER))
        except asyncio.CancelledError:
            for method in METHOD_ORDER:
                if self.pane(method).state in ("queued", "waiting"):
                    await self.pane(method).stop("cancelled")
            raise
        states = [self.pane(m).state for m in METHOD_ORDER]
        ran = sum(state == "done" for state in states)
        failed = sum(state == "failed" for state in states)
        how = "one at a time" if one_by_one else "at once"
        self._status(
            f"done in {time.perf_counter() - started:.1f}s: {ran} ran ({how})"
            + (f", {failed} failed" if failed else "")
            + (f", {len(states) - ran - failed} unavailable" if len(states) - ran - failed else "")
        )

    async def _run_method(self, method: str, request, profile: str, note: str) -> None:
        pane = self.pane(method)
        why = await asyncio.to_thread(self.workspace.unavailable, profile, method)
        if why:
            await pane.show(f"unavailable: {with_tui_keys(why)}", state="unavailable")
            return
        await pane.reset("starting")
        try:
            async for event in self.workspace.stream_method(profile, method, request):
                if event.stream == "rules":
                    if event.kind == "started":
                        await pane.reset("writing rules")
                    elif event.kind == "done" and method == "agent":
                        self.query_one("#compare-rules", Static).update(rules_line(event.text or ""))
                    continue
                if event.kind == "started":
                    await pane.reset("starting")
                elif event.kind == "delta":
                    await pane.append(event.text)
                else:
                    usage = event.usage
                    generating = (usage.seconds - (usage.first_token_seconds or 0.0)) if usage else 0.0
                    await pane.finish(
                        event.text, usage.completion_tokens if usage else 0, generating, note=f"{event.at:.1f}s{note}"
                    )
        except asyncio.CancelledError:
            await pane.stop("cancelled")
            raise
        except Exception as error:
            from tui.hints import describe_error

            await pane.stop("failed")
            self.notify(f"{method}: {describe_error(error)}", title="Failed", severity="error", timeout=10)

    def _give_intent_back(self) -> None:
        box = self.query_one(IntentInput)
        if self.intent and not box.text.strip():
            box.text = self.intent
        box.focus()

    def action_cancel(self) -> None:
        running = [w for w in self.workers if w.group == "compare" and w.is_running]
        if not running:
            return
        self.workers.cancel_group(self, "compare")
        self._give_intent_back()
        self._status("cancelled")
        self.notify("cancelled; the intent is back in the box", timeout=3)
