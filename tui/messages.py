"""Named, past-tense messages between workers and widgets.

Workers never touch widgets from another thread: they post one of these and the screen
that owns the widgets reacts in its handler, on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from core.events import Progress


class IntentSubmitted(Message):
    """The writer pressed Enter in the intent box."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ProfileChosen(Message):
    """The writer picked (or created) a profile; screens reload what they show."""

    def __init__(self, name: str | None) -> None:
        super().__init__()
        self.name = name


class ProgressReported(Message):
    """A core `Progress` event arrived from a worker thread."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


@dataclass
class StreamEvent:
    """What a stream pane needs to hear: text arrived, or the stream ended or failed."""

    stream: str
    text: str = ""
    done: bool = False
    tokens: int = 0
    seconds: float = 0.0
    error: str | None = None


class StreamAdvanced(Message):
    """A drafting stream produced text, finished, or failed."""

    def __init__(self, event: StreamEvent) -> None:
        super().__init__()
        self.event = event
