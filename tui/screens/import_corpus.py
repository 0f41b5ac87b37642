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
from tui.widgets.file_picker import NaturalDirectoryTree, PathSuggester


class PreviewLoaded(Message):
    def __init__(self, preview: ImportPreview) -> None:
        super().__init__()
        self.preview = preview


class PreviewFailed(Message):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class ImportFinished(Message):
    def __init__(self, report) -> None:
        super().__init__()
        self.report = report


AUTO = "*auto*"
"""The sender option that lets the import choose exactly as its preview did (the most frequent
From and every address with the same name, or the profile's stored senders)."""
NEW_PROFILE = "*new*"


class ImportScreen(PaScreen):
    MODE = "import"
    BINDINGS = [
        Binding("ctrl+r", "preview", "Preview"),
        Binding("ctrl+y", "run_import", "Import", tooltip="Import what the preview shows (Ctrl+Y: yes, store it)"),
        Binding("ctrl+b", "focus_tree", "Browse"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preview: ImportPreview | None = None

    def compose_body(self) -> ComposeResult:
        root = self.session.browse_root or Path.cwd()
        with Horizontal(id="import"):
            with Vertical(id="import-left"):
                yield NaturalDirectoryTree(root, id="import-tree")
            with Vertical(id="import-right"):
                yield Input(
                    placeholder="path to a folder or file (→ completes, Enter: preview)",
                    id="import-path",
                    suggester=PathSuggester(),
                )
                with Horizontal(id="import-controls"):
                    yield Select[str]([], prompt="into profile…", id="import-profile", allow_blank=True)
                    yield Select[str]([], prompt="sender: preview first", id="import-sender", allow_blank=True)
                yield Static("", id="import-summary")
                yield OptionList(id="import-preview")
                yield Static("", id="import-item")
                yield ProgressBar(total=1, show_eta=False, id="import-progress")

    def on_mount(self) -> None:
        self.query_one("#import-path", Input).focus()
        self.reload()

    def reload(self) -> None:
        """The profile picker lists every profile (and "new profile…") with the chosen one set."""
        select = self.query_one("#import-profile", Select)
        names = [state.name for state in self.workspace.profile_states()]
        options = [(f"into {name}", name) for name in names] + [("new profile…", NEW_PROFILE)]
        with select.prevent(Select.Changed):
            select.set_options(options)
            if self.session.profile in names:
                select.value = self.session.profile
        if self.session.profile is None and not names:
            self.query_one("#import-summary", Static).update('No profile yet: pick "new profile…" above to create one.')

    @on(Select.Changed, "#import-profile")
    def _profile_changed(self, event: Select.Changed) -> None:
        if event.value == NEW_PROFILE:
            self.create_profile()
        elif isinstance(event.value, str) and event.value != self.session.profile:
            self.session.choose_profile(event.value)
            self.query_one("NavBar").refresh_profile()
            self._forget_preview()

    @work(exit_on_error=False, group="new-profile")
    async def create_profile(self) -> None:
        from tui.widgets.dialogs import AskText

        name = await self.app.push_screen_wait(
            AskText("New profile name", placeholder="letters, digits, . _ -", check=self.workspace.create_profile)
        )
        if name:
            self.session.choose_profile(name)
            self.reload()
            self.query_one("NavBar").refresh_profile()
            self._forget_preview()
            self.notify(f"created profile {name}; imports go into it", timeout=4)
        else:
            self.reload()

    def _forget_preview(self) -> None:
        """Another profile may have other stored senders: the sender list is the preview's again."""
        self.preview = None
        select = self.query_one("#import-sender", Select)
        with select.prevent(Select.Changed):
            select.set_options([])
        if self._path(quiet=True) is not None:
            self.action_preview()

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

    def _path(self, quiet: bool = False) -> Path | None:
        text = self.query_one("#import-path", Input).value.strip()
        if not text:
            if not quiet:
                self.notify("type a path or pick one in the tree (Ctrl+B)", severity="warning", timeout=4)
            return None
        return Path(text).expanduser()

    def _sender(self) -> str | None:
        value = self.query_one("#import-sender", Select).value
        return value if isinstance(value, str) and value != AUTO else None

    # -- preview -----------------------------------------------------------------------------------

    def action_preview(self) -> None:
        path = self._path()
        if path is None:
            return
        if not self.session.profile:
            self.query_one("#import-summary", Static).update(
                'No profile to import into: pick one or "new profile…" in the list above.'
            )
            return
        self.query_one("#import-summary", Static).update(f"reading {path} …")
        self.load_preview(path, self._sender())

    @work(thread=True, exclusive=True, group="import-preview", exit_on_error=False)
    def load_preview(self, path: Path, sender: str | None) -> None:
        try:
            self.post_message(
                PreviewLoaded(self.workspace.preview_import(self.session.require_profile(), path, sender))
            )
        except Exception as error:
            self.post_message(PreviewFailed(error))

    @on(PreviewFailed)
    def _preview_failed(self, message: PreviewFailed) -> None:
        from tui.hints import describe_error

        self.preview = None
        self.query_one("#import-summary", Static).update(f"Preview failed: {describe_error(message.error)}")

    @on(PreviewLoaded)
    def _preview_loaded(self, message: PreviewLoaded) -> None:
        self.preview = message.preview
        report = message.preview.report
        select = self.query_one("#import-sender", Select)
        explicit = self._sender()
        auto_label = "auto"  # the summary line says which addresses auto chose, and why
        options = [(auto_label, AUTO)]
        options += [(f"{address} ({count})", address) for address, count in report.seen_by_sender.most_common(30)]
        if explicit and all(value != explicit for _, value in options):
            options.append((explicit, explicit))
        with select.prevent(Select.Changed):
            select.set_options(options)
            select.value = explicit or AUTO
        dropped = ", ".join(f"{reason} {count}" for reason, count in sorted(report.dropped.items())) or "none"
        self.query_one("#import-summary", Static).update(
            f"into {report.profile}: {report.format}, {report.messages_seen} messages, {report.imported} would be kept, "
            f"from {', '.join(report.senders) or 'everyone'} ({report.sender_choice}); dropped: {dropped}"
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
        if not self.session.profile:
            self.notify('pick a profile to import into (or "new profile…") first', severity="warning", timeout=4)
            return
        self.query_one("#import-progress", ProgressBar).update(total=1, progress=0)
        self.run_import(path, self._sender())

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def run_import(self, path: Path, sender: str | None) -> None:
        options = self.workspace.import_options(self.session.require_profile(), (sender,) if sender else ())
        report = self.workspace.import_corpus(
            path, options, lambda progress: self.post_message(ProgressReported(progress))
        )
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
            f"imported {report.imported} into {report.profile} ({report.train} train, {report.test} held out), "
            f"{report.duplicates} already there; next: F4 Pipeline, then s to distil and train"
        )
        self.notify(f"imported {report.imported} documents into {report.profile}", timeout=5)
