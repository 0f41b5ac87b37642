"""Change a few keys of config.toml in place, keeping the writer's comments, order and layout.

`config_as_toml` renders a whole config (for `pa config show`); writing that back would replace
a hand-written file with every default and no comments. Editors (the TUI's Models dialog) call
`edit_config_file` instead: it touches only the keys given, checks the result is a valid config
before anything is written, and replaces the file atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.config import Config, parse_config
from core.errors import ConfigError


def edit_config_text(text: str, changes: dict[str, Any], source: str = "config.toml") -> tuple[str, Config]:
    """`text` with each dotted key of `changes` set (None removes it), and the config it validates to."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}); fix the file before changing settings here") from None
    for dotted, value in changes.items():
        *sections, key = dotted.split(".")
        table = document
        for section in sections:
            if section not in table:
                if value is None:
                    break
                table.add(section, tomlkit.table())
            table = table[section]
        else:
            if value is None:
                if key in table:
                    del table[key]
            elif key not in table or table[key] != value:
                table[key] = value
    edited = tomlkit.dumps(document)
    return edited, parse_config(edited, source)


def edit_config_file(file: Path, changes: dict[str, Any]) -> Config:
    """Set (or with None remove) dotted keys in `file`; nothing is written if the result is invalid."""
    try:
        text = file.read_text(encoding="utf-8") if file.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{file}: cannot read ({exc.__class__.__name__}); check its permissions and encoding"
        ) from None
    edited, config = edit_config_text(text, changes, str(file))
    if edited != text:
        file.parent.mkdir(parents=True, exist_ok=True)
        temporary = file.with_name(file.name + ".tmp")
        temporary.write_text(edited, encoding="utf-8")
        if file.exists():
            os.chmod(temporary, file.stat().st_mode & 0o777)
        os.replace(temporary, file)
    return config
