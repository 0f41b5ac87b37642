"""Import: pick a folder or file (tree or typed path), preview what would be kept and dropped
and why, choose whose mail it is, then import with a progress bar.

Reading and cleaning are blocking, so they run in thread workers that post named messages.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DirectoryTree, Input, OptionList, ProgressBar, Select, Static
from textual.widgets.option_list import Option

from core.workspace import ImportPreview
from tui.messages import ProgressReported
from tui.screens.base import PaScreen


class PreviewLoaded(Message):
    def __init__(self, preview: ImportPreview) -> None:
        super().__init__()
        self.preview = preview


class ImportFinished(Message):
    def __init__(self, report) -> None:
        super().__init__()
        self.report = report


class ImportScreen(PaScreen):
    MODE = "import"
    BINDINGS = [
        Binding("ctrl+r", "preview", "Preview"),
        Binding("ctrl+g", "run_import", "Import"),
        Binding("ctrl+b", "focus_tree", "Browse"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preview: ImportPreview | None = None

    def compose_body(self) -> ComposeResult:
        root = self.session.browse_root or Path.cwd()
        with Horizontal(id="import"):
            with Vertical(id="import-left"):
                yield DirectoryTree(root, id="import-tree")
            with Vertical(id="import-right"):
                yield Input(placeholder="path to a folder or file (Enter: preview)", id="import-path")
                with Horizontal(id="import-controls"):
                    yield Select[str]([], prompt="sender: preview first", id="import-sender", allow_blank=True)
                yield Static("", id="import-summary")
                yield OptionList(id="import-preview")
                yield Static("", id="import-item")
                yield ProgressBar(total=1, show_eta=False, id="import-progress")

    def on_mount(self) -> None:
        self.query_one("#import-path", Input).focus()

    # -- choosing the path -----------------------------------------------------------------------

    @on(DirectoryTree.DirectorySelected)
    @on(DirectoryTree.FileSelected)
    def _path_picked(self, event) -> None:
        self.query_one("#import-path", Input).value = str(event.path)
        self.action_preview()

    @on(Input.Submitted, "#import-path")
    def _path_typed(self) -> None:
        self.action_preview()

    def action_focus_tree(self) -> None:
        self.query_one("#import-tree").focus()

    def _path(self) -> Path | None:
        text = self.query_one("#import-path", Input).value.strip()
        if not text:
            self.notify("type a path or pick one in the tree (Ctrl+B)", severity="warning", timeout=4)
            return None
        return Path(text).expanduser()

    def _sender(self) -> str | None:
        value = self.query_one("#import-sender", Select).value
        return value if isinstance(value, str) else None

    # -- preview -----------------------------------------------------------------------------------

    def action_preview(self) -> None:
        path = self._path()
        if path is not None:
            self.query_one("#import-summary", Static).update(f"reading {path} …")
            self.load_preview(path, self._sender())

    @work(thread=True, exclusive=True, group="import-preview", exit_on_error=False)
    def load_preview(self, path: Path, sender: str | None) -> None:
        self.post_message(PreviewLoaded(self.workspace.preview_import(self.session.require_profile(), path, sender)))

    @on(PreviewLoaded)
    def _preview_loaded(self, message: PreviewLoaded) -> None:
        self.preview = message.preview
        report = message.preview.report
        select = self.query_one("#import-sender", Select)
        chosen = report.senders[0] if report.senders else None
        options = [(f"{address} ({count})", address) for address, count in report.seen_by_sender.most_common(30)]
        with select.prevent(Select.Changed):
            select.set_options(options)
            if chosen and any(value == chosen for _, value in options):
                select.value = chosen
        dropped = ", ".join(f"{reason} {count}" for reason, count in sorted(report.dropped.items())) or "none"
        self.query_one("#import-summary", Static).update(
            f"{report.format}: {report.messages_seen} messages, {report.imported} would be kept "
            f"({report.sender_choice}); dropped: {dropped}"
        )
        preview = self.query_one("#import-preview", OptionList)
        preview.clear_options()
        preview.add_options(
            Option(("✓ " if item.kept else "✗ ") + f"{Path(item.source).name}  {item.note}", id=str(index))
            for index, item in enumerate(message.preview.items)
        )
        if message.preview.items:
            preview.highlighted = 0

    @on(Select.Changed, "#import-sender")
    def _sender_changed(self) -> None:
        if self.preview is not None:
            self.action_preview()

    @on(OptionList.OptionHighlighted, "#import-preview")
    def _item_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self.preview is None or event.option.id is None:
            return
        item = self.preview.items[int(event.option.id)]
        text = item.text if item.kept else f"dropped: {item.note}"
        self.query_one("#import-item", Static).update(text[:600])

    # -- import ------------------------------------------------------------------------------------

    def action_run_import(self) -> None:
        path = self._path()
        if path is None:
            return
        self.query_one("#import-progress", ProgressBar).update(total=1, progress=0)
        self.run_import(path, self._sender())

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def run_import(self, path: Path, sender: str | None) -> None:
        options = self.workspace.import_options(self.session.require_profile(), (sender,) if sender else ())
        report = self.workspace.import_corpus(path, options, lambda progress: self.post_message(ProgressReported(progress)))
        self.post_message(ImportFinished(report))

    @on(ProgressReported)
    def _progress_reported(self, message: ProgressReported) -> None:
        progress = message.progress
        if progress.stage == "import" and progress.total:
            self.query_one("#import-progress", ProgressBar).update(total=progress.total, progress=progress.done)
        if progress.message:
            self.query_one("#import-summary", Static).update(progress.message)

    @on(ImportFinished)
    def _import_finished(self, message: ImportFinished) -> None:
        report = message.report
        bar = self.query_one("#import-progress", ProgressBar)
        bar.update(total=1, progress=1)
        self.query_one("#import-summary", Static).update(
            f"imported {report.imported} ({report.train} train, {report.test} held out), "
            f"{report.duplicates} already there; next: the pipeline (F4)"
        )
        self.notify(f"imported {report.imported} documents into {report.profile}", timeout=5)
