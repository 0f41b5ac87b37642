"""Training gives freed memory back to the system (finetune.memory), so its peak RSS stays near
what is alive. Run in fresh processes: the setting is process-wide and stays."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Like a training step: a large block freed early (glibc then raises its mmap threshold to its
# size), then activation-sized blocks, of which only every tenth stays alive.
PROGRAM = """
import json, sys
from pathlib import Path
from finetune.memory import return_freed_blocks_to_the_system

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

fixed = return_freed_blocks_to_the_system() if sys.argv[1] == "fixed" else None
first = bytearray(8 << 20)
del first
before = rss_mb()
blocks = [bytearray(4 << 20) for _ in range(50)]
alive = blocks[::10]
del blocks
print(json.dumps({"fixed": fixed, "kept_mb": rss_mb() - before, "alive_mb": 4 * len(alive)}))
"""


def run(mode: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], cwd=REPO, capture_output=True, text=True, timeout=60, check=True, env=env
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc are Linux's")
def test_freed_activation_sized_blocks_leave_the_process_once_the_threshold_is_fixed():
    dynamic, fixed = run("dynamic"), run("fixed")
    assert fixed["fixed"] is True
    assert fixed["kept_mb"] < fixed["alive_mb"] + 8  # only the live blocks stay resident
    # The case it fixes: with glibc's dynamic threshold the freed blocks stay in the heap.
    assert dynamic["kept_mb"] > 4 * dynamic["alive_mb"]


def test_a_training_process_starts_with_pas_malloc_settings_and_keeps_the_persons_own():
    from finetune.memory import MMAP_THRESHOLD, training_environment

    env = training_environment({"PATH": "/bin", "GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=512"})
    assert env["PATH"] == "/bin"
    assert env["GLIBC_TUNABLES"] == (
        f"glibc.rtld.optional_static_tls=512:glibc.malloc.mmap_threshold={MMAP_THRESHOLD}:glibc.malloc.hugetlb=1"
    )
    theirs = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    assert training_environment(theirs) == theirs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc are Linux's")
def test_the_tunables_do_what_the_runtime_setting_does():
    from finetune.memory import training_environment

    started_tuned = run("dynamic", env=training_environment({"PATH": "/usr/bin:/bin"}))
    assert started_tuned["kept_mb"] < started_tuned["alive_mb"] + 8


def test_a_process_started_with_malloc_tunables_keeps_them(monkeypatch):
    from finetune.memory import return_freed_blocks_to_the_system

    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    assert return_freed_blocks_to_the_system() is False
