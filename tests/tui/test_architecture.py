"""The UI's boundaries: import-linter contracts hold, and start-up loads no model library."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "llama_cpp", "peft", "sentence_transformers", "matplotlib")

STARTUP_PROBE = """
import asyncio, json, sys
from tui.app import PaApp

async def main():
    app = PaApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(json.dumps(sorted(sys.modules)))

asyncio.run(main())
"""


def test_import_linter_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a dev dependency; install the dev extra"
    result = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "the UI never talks HTTP itself KEPT" in result.stdout
    assert "the views never touch SQL: queries are Store methods KEPT" in result.stdout
    assert "views over use cases over the domain KEPT" in result.stdout
    assert "no import cycles between sibling modules KEPT" in result.stdout


def test_start_up_imports_no_model_library(pa_home):
    result = subprocess.run(
        [sys.executable, "-c", STARTUP_PROBE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert "tui.screens.home" in modules  # the probe really got to the first screen
    loaded = [name for name in HEAVY if name in modules]
    assert loaded == [], f"imported at start-up: {loaded}"


def test_a_broken_config_is_one_line_and_exit_code_2(pa_home):
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text("[models]\nlarge = \n", encoding="utf-8")
    executable = str(Path(sys.executable).with_name("pa-tui"))
    result = subprocess.run([executable], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "config.toml" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
