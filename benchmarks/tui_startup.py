"""How fast `pa-tui` shows its first frame, and what it imports before that.

    python benchmarks/tui_startup.py [--runs 5]

1. Real terminal: `pa-tui` runs in a pseudo-terminal; the clock starts before the process is
   spawned and stops when the first frame (the nav bar) has been written to the terminal.
2. Modules: the same app, headless, lists `sys.modules` once the first screen is mounted,
   so we can see that no model library (torch, transformers, llama_cpp, peft) came along.
Figures are printed, never asserted (tests/tui/test_architecture.py asserts the imports).
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "llama_cpp", "peft", "sentence_transformers", "matplotlib", "textual_plotext")
FIRST_FRAME_MARK = b"Profiles"
PROBE = """
import asyncio, json, sys, time
started = time.perf_counter()
from tui.app import PaApp
imported = time.perf_counter()

async def main():
    app = PaApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(json.dumps({"modules": sorted(sys.modules), "import_s": imported - started,
                          "mounted_s": time.perf_counter() - started}))

asyncio.run(main())
"""


def first_frame_seconds(home: str, timeout: float = 30.0) -> float:
    executable = str(Path(sys.executable).with_name("pa-tui"))
    env = {**os.environ, "PA_HOME": home, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app in a terminal of its own
        os.execve(executable, [executable], env)
    seen = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
                if FIRST_FRAME_MARK in seen:
                    return time.perf_counter() - started
        raise RuntimeError(f"no first frame within {timeout} s; output: {seen[-400:]!r}")
    finally:
        try:
            os.write(fd, b"\x11")  # Ctrl+Q
        except OSError:
            pass
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:
                select.select([fd], [], [], 0.05) and os.read(fd, 65536)
            except OSError:
                pass
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        frames = [first_frame_seconds(home) for _ in range(args.runs)]
        probe = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PA_HOME": home},
            timeout=120,
        )
    if probe.returncode != 0:
        raise SystemExit(probe.stderr[-2000:])
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    modules = result["modules"]
    heavy = [name for name in HEAVY if name in modules]
    top = sorted({name.split(".")[0] for name in modules if not name.startswith("_")})
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'first frame in a terminal, median of ' + str(args.runs):<44}{statistics.median(frames):>11.3f}s")
    print(f"{'first frame, best':<44}{min(frames):>11.3f}s")
    print(f"{'first frame, worst':<44}{max(frames):>11.3f}s")
    print(f"{'import tui.app (headless probe)':<44}{result['import_s']:>11.3f}s")
    print(f"{'home screen mounted (headless probe)':<44}{result['mounted_s']:>11.3f}s")
    print(f"{'modules loaded at start-up':<44}{len(modules):>12}")
    print(f"{'model libraries loaded at start-up':<44}{', '.join(heavy) or 'none':>12}")
    print(
        f"top-level packages: {' '.join(p for p in top if p in ('core', 'tui', 'finetune', 'textual', 'rich', 'pydantic', 'platformdirs', 'typer'))}"
    )


if __name__ == "__main__":
    main()
