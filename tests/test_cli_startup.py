"""`pa --help` starts fast: commands are registered lazily (core.cli.COMMANDS).

What is checked: the table that `pa --help` lists matches what the command modules really
register (names and one-line help), `pa --help` imports no command module, and no command's
`--help` imports a heavy library (torch, transformers, llama.cpp, Textual...).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer

from core import cli

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "peft", "llama_cpp", "textual", "sklearn", "numpy", "datasets")


def registered_commands() -> dict[str, str]:
    """Every command the modules register, with its one-line help, found by registering them all."""
    import importlib

    found: dict[str, str] = {}
    for module in dict.fromkeys(module for module, _ in cli.COMMANDS.values()):
        app = typer.Typer()
        app.callback()(lambda: None)
        importlib.import_module(f"core.cli.{module}").register(app)
        group = typer.main.get_command(app)
        for name in group.list_commands(None):
            found[name] = group.get_command(None, name).get_short_help_str(limit=1000)
    return found


def in_fresh_python(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_lazy_command_table_lists_exactly_what_the_modules_register():
    assert {name: summary for name, (_, summary) in cli.COMMANDS.items()} == registered_commands()


def test_pa_help_lists_every_command_without_importing_any_command_module():
    result = in_fresh_python(
        "import contextlib, io, json, sys\n"
        "import core.cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = core.cli.run(['--help'])\n"
        "print(json.dumps({'code': code, 'help': out.getvalue(),\n"
        "    'loaded': sorted(m for m in sys.modules if m.startswith('core.') and m != 'core.errors'),\n"
        "    'rich_help': 'typer.rich_utils' in sys.modules}))"
    )
    assert result["code"] == 0
    assert all(name in result["help"] for name in cli.COMMANDS)
    assert result["loaded"] == ["core.cli"]
    assert not result["rich_help"]  # plain help: typer's rich renderer (rich.markdown, markdown_it...) stays out


def test_no_command_help_imports_a_heavy_library():
    names = json.dumps(list(cli.COMMANDS))
    result = in_fresh_python(
        "import contextlib, io, json, sys\n"
        "import core.cli\n"
        "codes = {}\n"
        f"for name in {names}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        codes[name] = core.cli.run([name, '--help'])\n"
        f"print(json.dumps({{'codes': codes, 'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))"
    )
    assert set(result["codes"].values()) == {0}, result["codes"]
    assert result["heavy"] == []


def test_an_unknown_command_is_a_usage_error():
    assert cli.run(["no-such-command"]) == 2
