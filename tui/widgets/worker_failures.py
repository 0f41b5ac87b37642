"""Workers report their state to the node that started them, and that message does not bubble;
screens mix this in so every failure reaches the app's one handler (a notification)."""

from __future__ import annotations

from textual.worker import Worker


class ForwardsWorkerFailures:
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        event.stop()
        self.app.worker_state_changed(event)  # type: ignore[attr-defined]
