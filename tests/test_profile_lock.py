"""One profile, one writer: a second import/distill/train/eval is refused in one line; a crash frees the profile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.config import Config
from core.locks import ProfileBusy, profile_writer
from core.paths import resolve_paths
from tests.corpus_helpers import ann_mails, write_mbox

REPO = Path(__file__).resolve().parent.parent
HOLDER = """
import sys, time
from pathlib import Path
from core.locks import profile_writer
with profile_writer(Path(sys.argv[1]), sys.argv[2], "pa distill"):
    print("held", flush=True)
    time.sleep(120)
"""


def hold_in_another_process(data_dir: Path, profile: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), profile], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.fixture
def imported(pa, tmp_path) -> Path:
    mbox = write_mbox(tmp_path / "ann.mbox", ann_mails())
    assert pa("import", mbox, "--profile", "ann").exit_code == 0
    return mbox


def test_every_writer_command_is_refused_while_another_writes_the_profile(pa, imported, tmp_path):
    data = resolve_paths().data_dir
    holder = hold_in_another_process(data, "ann")
    try:
        for command in (
            ["distill", "--profile", "ann", "--limit", "1"],
            ["import", imported, "--profile", "ann"],
            ["train", "--profile", "ann"],
        ):
            result = pa(*command)
            assert result.exit_code == 1, (command, result.stderr)
            line = f"error: profile 'ann' is busy: `pa distill` (pid {holder.pid}, since "
            assert result.stderr.splitlines()[-1].startswith(line), result.stderr
            assert "Traceback" not in result.stderr
        # Reading is fine, and so is writing another profile.
        assert pa("corpus", "list", "--profile", "ann").exit_code == 0
        assert pa("import", write_mbox(tmp_path / "bo.mbox", ann_mails(4)), "--profile", "bo").exit_code == 0
    finally:
        holder.kill()
        holder.wait()


async def test_eval_takes_the_lock_before_any_work(pa, imported):
    from core.evaluate import evaluate_profile
    from core.store import open_store

    holder = hold_in_another_process(resolve_paths().data_dir, "ann")
    try:
        with open_store() as store, pytest.raises(ProfileBusy, match="profile 'ann' is busy"):
            await evaluate_profile(store, resolve_paths(), Config(), "ann", judge=None)
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_killed_with_9_leaves_no_lock_behind_and_is_named_as_stale(pa, imported):
    data = resolve_paths().data_dir
    holder = hold_in_another_process(data, "ann")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with profile_writer(data, "ann", "pa import") as writer:
        assert writer.stale is not None and writer.stale["pid"] == holder.pid
    result = pa("import", imported, "--profile", "ann")
    assert result.exit_code == 0, result.stderr
    with profile_writer(data, "ann", "pa import") as writer:
        assert writer.stale is None  # the import ended cleanly


def test_reentrant_for_its_own_thread_refused_to_another(tmp_path):
    refused: list[BaseException] = []
    with profile_writer(tmp_path, "ann", "pa distill"):
        with profile_writer(tmp_path, "ann", "pa eval"):
            pass

        def other() -> None:
            try:
                with profile_writer(tmp_path, "ann", "pa eval"):
                    pass
            except ProfileBusy as exc:
                refused.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(refused) == 1 and "`pa distill`" in str(refused[0])
    with profile_writer(tmp_path, "ann", "pa eval"):  # released after the outer block
        pass


def test_a_lock_name_cannot_leave_the_locks_folder(tmp_path):
    from core.errors import UsageError

    with pytest.raises(UsageError):
        with profile_writer(tmp_path, "../evil", "pa import"):
            pass
