"""What every command needs: paths, config, store, a console, and JSON output."""

from __future__ import annotations

import json
import sys
from functools import lru_cache

from core.cli.safe_console import SafeConsole
from core.config import Config, load_config
from core.paths import Paths, resolve_paths
from core.store import Store

console = SafeConsole()
err_console = SafeConsole(stderr=True)


@lru_cache(maxsize=1)
def paths() -> Paths:
    return resolve_paths()


def config() -> Config:
    return load_config(paths())


def open_store() -> Store:
    from core.private_files import fixed_note

    store = Store.open(paths().store_file)
    if store.made_private:
        err_console.print(fixed_note(store.made_private, store.path.parent), markup=False, highlight=False)
    return store


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
