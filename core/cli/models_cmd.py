"""`pa models` (what the Ollama server has) and `pa doctor` (is each configured role usable)."""

from __future__ import annotations

import asyncio

import typer

from core.cli import common


def _size(num_bytes: int | None) -> str:
    if not num_bytes:
        return "-"
    return f"{num_bytes / 1e9:.1f} GB" if num_bytes >= 1e9 else f"{num_bytes / 1e6:.0f} MB"


def _mark(value: bool | None) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]", None: "[dim]-[/]"}[value]


def register(app: typer.Typer) -> None:
    app.command("models")(models_cmd)
    app.command("doctor")(doctor_cmd)


def models_cmd(
    host: str = typer.Option(None, "--host", help="Ollama server; default: config ollama.host, then $OLLAMA_HOST."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the models the Ollama server has pulled (use them as ollama:NAME)."""
    from rich.table import Table

    from core.llm.ollama_backend import resolve_host

    with common.open_workspace() as workspace:
        chosen = host or workspace.config.ollama.host
        models = asyncio.run(workspace.ollama_models(chosen))
    if as_json:
        common.print_json([vars(model) for model in models])
        return
    where = resolve_host(chosen)
    if not models:
        common.console.print(f"Ollama at {where} has no models yet; pull one with `ollama pull NAME`.", highlight=False)
        return
    table = Table(title=f"Ollama models at {where}")
    for column in ("spec", "parameters", "quantization", "size", "modified"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for model in models:
        table.add_row(
            f"ollama:{model.name}",
            model.parameter_size or "-",
            model.quantization or "-",
            _size(model.size_bytes),
            model.modified or "-",
        )
    common.console.print(table)


def doctor_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Check each configured model role: reachable, model present, a 5-token generation, speed."""
    from rich.markup import escape
    from rich.table import Table

    with common.open_workspace() as workspace:
        checks = asyncio.run(workspace.check_models())
        export_ok, export_tools = workspace.gguf_export_tools()
    if as_json:
        common.print_json([{**vars(check), "usable": check.usable} for check in checks])
    else:
        table = Table(title="pa doctor: model roles")
        for column in ("role", "spec", "text goes to", "reachable", "model", "test generation", "tok/s", "status"):
            table.add_column(column, justify="right" if column == "tok/s" else "left", overflow="fold")
        for check in checks:
            table.add_row(
                check.role,
                escape(check.spec),
                escape(check.sends_to or "-"),
                _mark(check.reachable),
                _mark(check.model_present),
                escape(repr(check.sample)) if check.sample is not None else "-",
                f"{check.tokens_per_second:.1f}" if check.tokens_per_second else "-",
                "[green]ok[/]" if check.usable else f"[red]unusable:[/] {escape(check.problem or '')}",
            )
        common.console.print(table)
        common.console.print(
            f"GGUF export: {'[green]ok[/]' if export_ok else '[red]missing[/]'} {escape(export_tools)}"
        )
    unusable = [check.role for check in checks if not check.usable]
    if unusable:
        from core.errors import BackendError

        raise BackendError(f"unusable model role(s): {', '.join(unusable)}; see the status column above")
