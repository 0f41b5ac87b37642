"""Training memory that is freed goes back to the system instead of staying resident.

Why: glibc's malloc serves blocks of at least its mmap threshold as their own mappings, which
free() unmaps. But each such free raises the threshold to the freed size (up to 32 MiB), so
after the first steps a decoder layer's activations (1-30 MiB at batch x 512 tokens) come from
the heap, where blocks freed between live ones are never returned. A fixed threshold keeps them
as mappings; transparent huge pages for those mappings make their page faults cheap again.
Measured with `benchmarks/train_memory.py` (a LoRA step of SmolLM2-135M, batch 4 x 512 tokens,
checkpointed): peak 3.1 GB and 22.9 s per step with glibc's defaults, 1.3 GB and 32.5 s with
the threshold alone, 1.3 GB and 26.2 s with huge pages too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping

MMAP_THRESHOLD = 1 << 20
"""Blocks of 1 MiB and more are mappings of their own (128 KiB kept the same peak, 6% slower)."""

M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h


def training_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for a training process: glibc's malloc tuned as above, read at its start.

    Tunables the person set for glibc's malloc are theirs to keep; other C libraries ignore these.
    """
    env = dict(environ)
    if not _tunes_malloc(env):
        ours = f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD}:glibc.malloc.hugetlb=1"
        env["GLIBC_TUNABLES"] = ":".join(filter(None, [env.get("GLIBC_TUNABLES"), ours]))
    return env


def _tunes_malloc(environ: Mapping[str, str]) -> bool:
    return "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")


def return_freed_blocks_to_the_system(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold in this running process (no huge pages: those need
    `training_environment` at start). False where the C library is not glibc, and where the
    process started with malloc tunables (pa's own or the person's), which stay as they are."""
    if not sys.platform.startswith("linux") or _tunes_malloc(os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, threshold) == 1
