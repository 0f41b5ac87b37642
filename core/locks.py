"""One profile, one writer: `pa import`, `distill`, `train` and `eval` never run twice at once on a profile.

Two writers on one profile asked the model every question twice and stored drafts against
the wrong intent. A writer holds an advisory lock (`flock`) on `DATA/locks/PROFILE.lock`; a
second one is refused with one line naming the first (its command, pid and start time).

The kernel drops the lock when its process ends, however it ends, so a crash (kill -9, power
loss) never leaves a profile locked: the next writer finds the file with the dead writer's
details in it, takes the lock, and `Writer.stale` says whom it replaced. Within one process
the lock is re-entrant for the thread that holds it (a use case may call another), and
refused to any other thread.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from core.errors import PaError

F = TypeVar("F", bound=Callable[..., Any])
LOCKS_DIR = "locks"


class ProfileBusy(PaError):
    """Another pa command is writing to this profile."""


@dataclass
class Writer:
    path: Path
    command: str
    stale: dict[str, Any] | None = None
    """What a writer that crashed left in the lock file (command, pid, since), when one did."""


_held: dict[str, tuple[int, int, Writer]] = {}  # lock path -> (thread id, depth, writer)
_held_lock = threading.Lock()


def lock_path(data_dir: Path, profile: str) -> Path:
    return data_dir / LOCKS_DIR / f"{profile}.lock"


@contextmanager
def profile_writer(data_dir: Path, profile: str, command: str) -> Iterator[Writer]:
    """Hold the profile's writer lock for the block, or raise ProfileBusy at once."""
    from core.store import validate_profile_name

    path = lock_path(data_dir, validate_profile_name(profile))
    key = str(path)
    me = threading.get_ident()
    with _held_lock:
        held = _held.get(key)
        if held is not None:
            owner, depth, writer = held
            if owner != me:
                raise ProfileBusy(_busy_line(profile, _read(path)))
            _held[key] = (owner, depth + 1, writer)
    if held is not None:
        try:
            yield writer
        finally:
            with _held_lock:
                owner, depth, writer = _held[key]
                _held[key] = (owner, depth - 1, writer)
        return

    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProfileBusy(_busy_line(profile, _read(path))) from None
        previous = _read(path)
        writer = Writer(path, command, stale=previous or None)
        details = {"command": command, "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(details).encode("utf-8"), 0)
        with _held_lock:
            _held[key] = (me, 1, writer)
        try:
            yield writer
        finally:
            with _held_lock:
                _held.pop(key, None)
            os.ftruncate(fd, 0)  # an empty file: the writer finished cleanly
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def writes_profile(command: str, profile_of: Callable[[dict[str, Any]], str | None]) -> Callable[[F], F]:
    """Decorate a use case taking `store`: it runs holding the writer lock of `profile_of(arguments)`.

    `profile_of` gets the call's arguments by name and returns the profile name, or None when
    this call writes nothing (a dry run).
    """

    def decorate(function: F) -> F:
        signature = inspect.signature(function)

        def lock_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            profile = profile_of(bound.arguments)
            if profile is None:
                return _nothing()
            return profile_writer(Path(bound.arguments["store"].path).parent, profile, command)

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with lock_for(args, kwargs):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with lock_for(args, kwargs):
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8").strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}


def _busy_line(profile: str, holder: dict[str, Any]) -> str:
    who = f"`{holder.get('command', 'another pa command')}` (pid {holder.get('pid', '?')}, since {holder.get('since', '?')})"
    return f"profile {profile!r} is busy: {who} is writing to it; wait until it ends, or stop it and run your command again"
