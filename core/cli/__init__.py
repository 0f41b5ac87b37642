"""The `pa` command: a thin shell over core functions.

Each command group lives in its own module and registers itself on `app`. Errors that the
user can act on (PaError) become one line on stderr and an exit code: 2 usage, 1 runtime.
"""

from __future__ import annotations

import sys

import typer

from core.errors import PaError

app = typer.Typer(
    name="pa",
    help="Preference agents for personal writing: learn how you write, then write like you.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    from core.cli import config_cmd, corpus_cmd, distill_cmd, draft_cmd, eval_cmd, models_cmd, serve_cmd, style_cmd, train_cmd

    for module in (config_cmd, corpus_cmd, models_cmd, distill_cmd, train_cmd, draft_cmd, eval_cmd, serve_cmd, style_cmd):
        module.register(app)


_register_commands()


def run(argv: list[str] | None = None) -> int:
    """Run `pa` with `argv` and return the exit code; what tests call in-process."""
    import click

    # typer >= 0.22 ships its own copy of click: its exceptions are not click's.
    try:
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:  # pragma: no cover - older typer raises click's own
        TyperClickException = click.exceptions.ClickException
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
