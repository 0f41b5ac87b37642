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
    @app.command("models")
    def models_cmd(
        host: str = typer.Option(None, "--host", help="Ollama server; default: config ollama.host, then $OLLAMA_HOST."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """List the models the Ollama server has pulled (use them as ollama:NAME)."""
        from rich.table import Table

        from core.llm.ollama_backend import list_models, resolve_host

        config = common.config()
        chosen = host or config.ollama.host
        models = asyncio.run(list_models(chosen, timeout=min(config.ollama.timeout, 30.0)))
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
                f"ollama:{model.name}", model.parameter_size or "-", model.quantization or "-",
                _size(model.size_bytes), model.modified or "-",
            )
        common.console.print(table)

    @app.command("doctor")
    def doctor_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """Check each configured model role: reachable, model present, a 5-token generation, speed."""
        from rich.markup import escape
        from rich.table import Table

        from core.llm.health import check_roles

        checks = asyncio.run(check_roles(common.config()))
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
            _print_gguf_export_tools()
        unusable = [check.role for check in checks if not check.usable]
        if unusable:
            from core.errors import BackendError

            raise BackendError(f"unusable model role(s): {', '.join(unusable)}; see the status column above")


def _print_gguf_export_tools() -> None:
    """One line on the llama.cpp converters `pa train` exports agents with (finetune/llama_converters.py)."""
    from rich.markup import escape

    from finetune.llama_converters import describe_converters

    ok, line = describe_converters()
    common.console.print(f"GGUF export: {'[green]ok[/]' if ok else '[red]missing[/]'} {escape(line)}")
