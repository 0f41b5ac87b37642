"""`pa serve` as a real subprocess on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ServeProcess:
    process: subprocess.Popen
    base_url: str
    """`http://127.0.0.1:PORT/v1`"""
    log: list[str] = field(default_factory=list)
    """The server's stderr lines (its request log)."""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_serve(home: Path, *args: str, env: dict[str, str] | None = None, ready_within: float = 60.0) -> ServeProcess:
    """Start `pa serve --port 0 ARGS` with PA_HOME=home; returns once it prints where it listens."""
    environment = {**os.environ, "PA_HOME": str(home), "PYTHONPATH": str(REPO), **(env or {})}
    # The test machine's cores are shared: spinning OpenMP threads collapse there (core/llm/embedded.py).
    environment.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    environment.pop("PA_CONFIG_DIR", None)
    environment.pop("PA_DATA_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=REPO,
    )
    served = ServeProcess(process, "")
    threading.Thread(target=lambda: served.log.extend(iter(process.stderr.readline, "")), daemon=True).start()
    deadline = time.monotonic() + ready_within
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line or "listening on" in line:
            break
    if "listening on" not in line:
        served.stop()
        raise RuntimeError(f"pa serve did not start (exit {process.poll()}): {''.join(served.log)[-2000:]}")
    served.base_url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    return served
