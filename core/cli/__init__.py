"""The `pa` command: a thin shell over core functions.

Each command group lives in its own module with a `register(app)` function; `COMMANDS` says
which module holds which command, so only the command being run is imported. Errors that the
user can act on (PaError) become one line on stderr and an exit code: 2 usage, 1 runtime.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from core.errors import PaError

COMMANDS: dict[str, tuple[str, str]] = {
    "config": ("config_cmd", "Show where pa keeps its config and data, and the config in force."),
    "import": ("corpus_cmd", "Import someone's writing into a profile: cleaned, de-duplicated, split 80/20."),
    "corpus": ("corpus_cmd", "Inspect the documents a profile holds."),
    "models": ("models_cmd", "List the models the Ollama server has pulled (use them as ollama:NAME)."),
    "doctor": (
        "models_cmd",
        "Check each configured model role: reachable, model present, a 5-token generation, speed.",
    ),
    "distill": (
        "distill_cmd",
        "Distil intents, zero-shot drafts and preference rules from a profile's texts (resumable).",
    ),
    "rules": ("distill_cmd", "Read what distillation produced."),
    "train": ("train_cmd", "Fine-tune the profile's small model with LoRA and export it to GGUF (resumable)."),
    "agents": ("train_cmd", "Trained preference agents and baselines."),
    "draft": ("draft_cmd", "Write INTENT in the profile's style: naive draft and agent rules at once, then the final."),
    "compare": ("draft_cmd", "Every method of the paper's Table 2 for one intent, side by side, with timings."),
    "history": ("draft_cmd", "The profile's drafts: intent, rules, edits and the text kept."),
    "feedback": (
        "feedback_cmd",
        "Record the text you really sent for a draft (edited elsewhere) and learn rules from the edit.",
    ),
    "eval": (
        "eval_cmd",
        "Judge the agent against the baselines on held-out texts; `pa eval permutation` for the sender permutation.",
    ),
    "serve": ("serve_cmd", "Serve every profile's agent as model `pa:PROFILE` over the OpenAI chat API."),
    "style": (
        "style_cmd",
        "Show how the profile greets, closes, how long it writes and its punctuation habits (measured, no model).",
    ),
}
"""Each command: the module under core.cli that registers it, and its one-line help for `pa --help`.

Commands are registered lazily: `pa --help` lists them from this table and imports no command
module (they pull in pydantic, asyncio, the store...); running a command, or asking for its own
`--help`, imports only its module. tests/test_cli_startup.py checks this table against what the
modules really register, so a new or renamed command fails there until it is listed here.
"""


class LazyCommands(TyperGroup):
    """The root group: lists COMMANDS without importing them; builds a command on first use."""

    _listing = False
    _built: dict[str, Any] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing and cmd_name in COMMANDS:
            summary = COMMANDS[cmd_name][1]
            return TyperCommand(cmd_name, help=summary, short_help=summary)
        return load_command(cmd_name, ctx)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load_command(name: str, ctx: Any = None) -> Any:
    """The click command `name`, made by importing its module (all modules for a name not in COMMANDS)."""
    import importlib

    built = LazyCommands._built
    if name not in built:
        modules = (
            [COMMANDS[name][0]] if name in COMMANDS else list(dict.fromkeys(module for module, _ in COMMANDS.values()))
        )
        for module_name in modules:
            sub = typer.Typer(
                rich_markup_mode=app.rich_markup_mode, pretty_exceptions_enable=False, add_completion=False
            )
            sub.callback()(lambda: None)
            importlib.import_module(f"core.cli.{module_name}").register(sub)
            group = typer.main.get_command(sub)
            for command_name in group.list_commands(ctx):  # type: ignore[attr-defined]
                built.setdefault(command_name, group.get_command(ctx, command_name))  # type: ignore[attr-defined]
    return built.get(name)


app = typer.Typer(
    name="pa",
    cls=LazyCommands,
    help="Preference agents for personal writing: learn how you write, then write like you.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: typer's rich renderer alone doubles `pa --help`'s time
)


@app.callback()
def _root() -> None:
    """Preference agents for personal writing: learn how you write, then write like you."""


def run(argv: list[str] | None = None) -> int:
    """Run `pa` with `argv` and return the exit code; what tests call in-process."""
    import click

    # typer >= 0.22 ships its own copy of click: its exceptions are not click's.
    try:
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:  # pragma: no cover - older typer raises click's own
        TyperClickException = click.exceptions.ClickException  # type: ignore[misc,assignment]
    try:
        # Without standalone mode, typer returns the code of an Exit (Ctrl-C becomes Exit(130))
        # instead of raising it.
        code = app(args=argv, standalone_mode=False, prog_name="pa")
    except PaError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted; work done so far is saved, run the same command to continue", file=sys.stderr)
        return 130
    except (click.exceptions.Exit, typer.Exit) as exc:
        return exc.exit_code
    except (click.exceptions.Abort, typer.Abort):
        print("aborted", file=sys.stderr)
        return 1
    except (click.exceptions.ClickException, TyperClickException) as exc:
        exc.show()
        return exc.exit_code
    if code == 130:
        print("interrupted; work done so far is saved, run the same command to continue", file=sys.stderr)
    return code if isinstance(code, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))
