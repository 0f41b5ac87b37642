"""`pa config path|show`."""

from __future__ import annotations

import typer

from core.cli import common


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Show where pa keeps its config and data, and the config in force.", no_args_is_help=True)

    group.command("path")(path_cmd)
    group.command("show")(show_cmd)
    app.add_typer(group, name="config")


def path_cmd() -> None:
    """Print the config file, data folder and store paths."""
    from core.paths import resolve_paths

    p = resolve_paths()
    common.console.print(f"config  {p.config_file}", highlight=False, soft_wrap=True)
    common.console.print(f"data    {p.data_dir}", highlight=False, soft_wrap=True)
    common.console.print(f"store   {p.store_file}", highlight=False, soft_wrap=True)


def show_cmd() -> None:
    """Print the config in force (file values over defaults) as TOML."""
    from core.config import config_as_toml, load_config

    common.console.print(config_as_toml(load_config()), highlight=False, markup=False, soft_wrap=True)
