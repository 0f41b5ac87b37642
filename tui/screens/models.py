"""Pick the model spec for each role; Ollama's models are offered when Ollama is configured."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from core.errors import PaError
from tui.widgets.worker_failures import ForwardsWorkerFailures

ROLES = (
    ("large", "Large model (distillation, final drafts)"),
    ("agent", "Agent base (fine-tuned)"),
    ("judge", "Judge (empty: the large model)"),
)


class ModelsScreen(ForwardsWorkerFailures, ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def compose(self) -> ComposeResult:
        models = self.app.workspace.config.models  # type: ignore[attr-defined]
        with Vertical(classes="dialog", id="models-dialog"):
            yield Label("Models per role: embedded, gguf:PATH, ollama:NAME[:TAG], openai:NAME", classes="dialog-title")
            for role, title in ROLES:
                yield Label(title)
                yield Input(getattr(models, role) or "", id=f"spec-{role}")
            yield Select[str]([], prompt="Ollama models (not configured)", id="ollama-models", disabled=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        if self.app.workspace.ollama_configured():  # type: ignore[attr-defined]
            self.load_ollama_models()

    @work(exit_on_error=False, exclusive=True, group="ollama-models")
    async def load_ollama_models(self) -> None:
        models = await self.app.workspace.ollama_models()  # type: ignore[attr-defined]
        self._show_ollama_models([model.name for model in models])

    def _show_ollama_models(self, names: list[str]) -> None:
        select = self.query_one("#ollama-models", Select)
        select.set_options((name, name) for name in names)
        select.prompt = f"Ollama models ({len(names)}): pick one for the focused role"
        select.disabled = not names

    @on(Select.Changed, "#ollama-models")
    def _ollama_model_picked(self, event: Select.Changed) -> None:
        if event.value is Select.BLANK:
            return
        target = self.query_one("#spec-large", Input)
        for role, _ in ROLES:
            field = self.query_one(f"#spec-{role}", Input)
            if field.has_focus or getattr(self, "_last_role", None) == role:
                target = field
        target.value = f"ollama:{event.value}"

    @on(Input.Changed)
    def _remember_role(self, event: Input.Changed) -> None:
        if event.input.id and event.input.has_focus:
            self._last_role = event.input.id.removeprefix("spec-")

    def on_descendant_focus(self, event) -> None:
        widget = event.widget
        if isinstance(widget, Input) and widget.id:
            self._last_role = widget.id.removeprefix("spec-")

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        values = {role: self.query_one(f"#spec-{role}", Input).value.strip() for role, _ in ROLES}
        try:
            self.app.workspace.save_models(values["large"], values["agent"], values["judge"] or None)  # type: ignore[attr-defined]
        except PaError as err:
            self.notify(str(err), severity="error", timeout=8)
            return
        self.notify("models saved to config.toml", timeout=3)
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
