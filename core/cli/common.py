"""What every command shares: the workspace it works on, a console, and JSON output.

Nothing is cached between commands: each opens the installation (PA_HOME or the platform
folders) afresh, so in-process callers (tests, `pa serve`) never see another's paths.
"""

from __future__ import annotations

import json
import sys

from core.cli.safe_console import SafeConsole
from core.workspace import Workspace

console = SafeConsole()
err_console = SafeConsole(stderr=True)


def open_workspace() -> Workspace:
    """The installation's workspace (use as a context manager: it closes the store).

    When opening the store had to tighten file permissions, the one-line note says so."""
    from core.private_files import fixed_note

    workspace = Workspace.open()
    store = workspace.store
    if store.made_private:
        err_console.print(fixed_note(store.made_private, store.path.parent), markup=False, highlight=False)
    return workspace


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
