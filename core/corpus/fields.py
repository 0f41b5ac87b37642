"""Which columns of a JSONL/CSV source hold the text and the metadata.

`--text-field` names the text; metadata columns are found by their usual names (sender, from,
author, subject, title, date, ...) unless `--field KEY=COLUMN` says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import UsageError

METADATA_KEYS = ("sender", "recipients", "subject", "date", "message_id", "previous_context")
USUAL_NAMES: dict[str, tuple[str, ...]] = {
    "sender": ("sender", "from", "author", "from_address", "email"),
    "recipients": ("recipients", "to", "recipient"),
    "subject": ("subject", "title"),
    "date": ("date", "timestamp", "time", "created_at", "sent_at"),
    "message_id": ("message_id", "message-id", "messageid", "id"),
    "previous_context": ("previous_context", "previous", "in_reply_to_text", "parent_text"),
}
DEFAULT_TEXT_FIELDS = ("text", "body", "content", "message")


def parse_field_options(options: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`["sender=author", "date=posted"]` -> {"sender": "author", "date": "posted"}."""
    mapping: dict[str, str] = {}
    for option in options:
        key, sep, column = option.partition("=")
        key = key.strip().lower()
        if not sep or not column.strip():
            raise UsageError(f"--field {option!r}: write it as KEY=COLUMN, e.g. --field sender=author")
        if key not in METADATA_KEYS:
            raise UsageError(f"--field {option!r}: KEY must be one of {', '.join(METADATA_KEYS)}")
        mapping[key] = column.strip()
    return mapping


def resolve_columns(
    columns: list[str], text_field: str | None, explicit: Mapping[str, str], source: str
) -> tuple[str, dict[str, str]]:
    """(text column, {metadata key: column}) for the columns a source has; a named column
    that is missing is a usage error that lists the columns there are."""
    available = ", ".join(columns[:20]) or "(none)"
    lowered = {c.lower(): c for c in columns}
    if text_field:
        if text_field not in columns:
            raise UsageError(
                f"{source}: no column {text_field!r}; columns are: {available}; pass --text-field with one of them"
            )
        text_column = text_field
    else:
        text_column = next((lowered[name] for name in DEFAULT_TEXT_FIELDS if name in lowered), "")
        if not text_column:
            raise UsageError(f"{source}: which column holds the text? columns are: {available}; pass --text-field NAME")
    mapping: dict[str, str] = {}
    for key in METADATA_KEYS:
        if key in explicit:
            if explicit[key] not in columns:
                raise UsageError(f"{source}: no column {explicit[key]!r} for --field {key}; columns are: {available}")
            mapping[key] = explicit[key]
            continue
        for name in USUAL_NAMES[key]:
            if name in lowered and lowered[name] != text_column:
                mapping[key] = lowered[name]
                break
    return text_column, mapping


def metadata_from(row: Mapping[str, object], mapping: Mapping[str, str]) -> dict[str, str | None]:
    metadata: dict[str, str | None] = {}
    for key, column in mapping.items():
        value = row.get(column)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        metadata[key] = str(value).strip() if value not in (None, "") else None
    return metadata
