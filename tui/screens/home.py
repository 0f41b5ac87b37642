"""Profiles: how far each one has come, and create / rename / delete / pick the models."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from core.pipeline_state import ProfileState
from tui.screens.base import PaScreen
from tui.widgets.dialogs import AskText, Confirm

COLUMNS = ("profile", "docs", "distilled", "agent", "last eval", "next")


class ProfileTable(DataTable):
    """The profiles; Enter (shown in the footer) makes the highlighted one the profile in use."""

    BINDINGS = [Binding("enter", "select_cursor", "Use profile")]


class HomeScreen(PaScreen):
    MODE = "home"
    BINDINGS = [
        Binding("enter", "choose", "Use"),
        Binding("n", "new", "New"),
        Binding("r", "rename", "Rename"),
        Binding("d", "delete", "Delete"),
        Binding("m", "models", "Models"),
        Binding("f", "facts", "Facts", show=False, tooltip="Style facts pa measured from the profile's texts"),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="home"):
            yield Static("Profiles", classes="section-title")
            yield ProfileTable(id="profiles", cursor_type="row", zebra_stripes=True)
            yield Static("", id="profile-detail")
            yield Static("", id="profile-facts")
            yield Static("", id="models-summary")

    def on_mount(self) -> None:
        table = self.query_one("#profiles", DataTable)
        table.add_columns(*COLUMNS)
        self.reload()

    def reload(self) -> None:
        states = self.workspace.profile_states()
        self.states = {state.name: state for state in states}
        table = self.query_one("#profiles", DataTable)
        table.clear()
        for state in states:
            marker = "● " if state.name == self.session.profile else "  "
            table.add_row(
                marker + state.name,
                f"{state.documents}",
                f"{state.distilled}" + (f" ({state.failed} failed)" if state.failed else ""),
                state.agent.rsplit("/", 1)[-1] if state.agent else "—",
                state.last_eval or "—",
                state.next_step,
                key=state.name,
            )
        if self.session.profile in self.states:
            table.move_cursor(row=list(self.states).index(self.session.profile))
        self._show_detail(self.selected_state())
        config = self.workspace.config
        judge = "(large)" if config.judge_is_large else config.judge_spec
        self.query_one("#models-summary", Static).update(
            f"Models  large: {config.models.large}  agent: {config.models.agent}  judge: {judge}"
        )
        if not states:
            self.query_one("#profile-detail", Static).update(
                "No profiles yet. Press n to create one, then F3 to import a corpus (or n on the Import screen)."
            )

    def selected_state(self) -> ProfileState | None:
        table = self.query_one("#profiles", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.states.get(key)

    def _show_detail(self, state: ProfileState | None) -> None:
        if state is None:
            return
        self.query_one("#profile-detail", Static).update(
            f"{state.name}: {state.documents} documents ({state.held_out} held out), sender "
            f"{state.sender or 'not set'}; agent {state.agent or 'not trained'}; next: {state.next_step}"
        )
        self.query_one("#profile-facts", Static).update(self._facts_line(state))

    def _facts_line(self, state: ProfileState) -> Text:
        """The habits drafting checks, marked as pa's measurement (f shows every fact)."""
        from core.style.fact_rows import facts_summary

        if not state.documents:
            return Text("")
        summary = facts_summary(self.workspace.style_facts(state.name).as_dict())
        return Text(f"Measured by pa (f: all facts): {summary or 'no clear habit yet'}", overflow="ellipsis")

    @on(DataTable.RowHighlighted, "#profiles")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(self.states.get(event.row_key.value))

    @on(DataTable.RowSelected, "#profiles")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.use_profile(event.row_key.value)

    def use_profile(self, name: str) -> None:
        self.session.choose_profile(name)
        self.reload()
        self.query_one("NavBar").refresh_profile()
        self.notify(f"using profile {name}", timeout=3)

    def action_choose(self) -> None:
        state = self.selected_state()
        if state:
            self.use_profile(state.name)

    @work(exit_on_error=False)
    async def action_new(self) -> None:
        name = await self.app.push_screen_wait(
            AskText("New profile name", placeholder="letters, digits, . _ -", check=self.workspace.create_profile)
        )
        if name:
            self.use_profile(name)

    @work(exit_on_error=False)
    async def action_rename(self) -> None:
        state = self.selected_state()
        if state is None:
            self.notify("no profile to rename; press n to create one", severity="warning")
            return

        def rename(new: str) -> None:
            if new != state.name:
                self.workspace.rename_profile(state.name, new)

        new = await self.app.push_screen_wait(AskText(f"Rename {state.name} to", value=state.name, check=rename))
        if new and new != state.name:
            if self.session.profile == state.name:
                self.session.choose_profile(new)
            self.reload()
            self.query_one("NavBar").refresh_profile()
            self.notify(f"renamed {state.name} to {new}", timeout=3)

    @work(exit_on_error=False)
    async def action_delete(self) -> None:
        state = self.selected_state()
        if state is None:
            self.notify("no profile to delete", severity="warning")
            return
        sure = await self.app.push_screen_wait(
            Confirm(f"Delete profile {state.name}, its {state.documents} documents, distillations, agents and reports?")
        )
        if sure:
            self.workspace.delete_profile(state.name)
            if self.session.profile == state.name:
                self.session.choose_profile(None)
            self.reload()
            self.query_one("NavBar").refresh_profile()
            self.notify(f"deleted {state.name}", timeout=3)

    def action_facts(self) -> None:
        from tui.screens.style_facts import StyleFacts

        state = self.selected_state()
        if state is None:
            self.notify("no profile yet; press n to create one", severity="warning", timeout=3)
            return
        self.app.push_screen(StyleFacts(state.name, self.workspace.style_facts(state.name).as_dict()))

    @work(exit_on_error=False)
    async def action_models(self) -> None:
        from tui.screens.models import ModelsScreen

        changed = await self.app.push_screen_wait(ModelsScreen())
        if changed:
            self.reload()
