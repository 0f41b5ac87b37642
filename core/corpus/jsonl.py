"""JSON Lines: one JSON object per line, the text in a named field."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from core.corpus.fields import metadata_from, resolve_columns
from core.corpus.files import bounded_lines, decode_text, file_size, walk_files
from core.corpus.records import BAD_RECORD, MISSING_TEXT, TOO_LARGE, UNREADABLE, SourceRecord

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def jsonl_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    return [file for file in walk_files(path) if file.suffix.lower() in JSONL_SUFFIXES]


def iter_jsonl(
    files: list[Path], max_bytes: int, text_field: str | None, explicit: Mapping[str, str]
) -> Iterator[SourceRecord]:
    for file in files:
        yield from _iter_file(file, max_bytes, text_field, explicit)


def _iter_file(
    file: Path, max_bytes: int, text_field: str | None, explicit: Mapping[str, str]
) -> Iterator[SourceRecord]:
    try:
        handle = open(file, "rb")
    except OSError as exc:
        yield SourceRecord(str(file), problem=UNREADABLE, detail=exc.strerror or "", size=file_size(file))
        return
    columns: tuple[str, dict[str, str]] | None = None
    with handle:
        for number, (line, size) in enumerate(bounded_lines(handle, max_bytes), start=1):
            source = f"{file}#{number}"
            if line is None:
                yield SourceRecord(source, problem=TOO_LARGE, detail=f"line of {size:,} bytes", size=size)
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(decode_text(line))
            except (ValueError, RecursionError) as exc:
                yield SourceRecord(source, problem=BAD_RECORD, detail=f"not JSON ({str(exc)[:60]})", size=size)
                continue
            if not isinstance(row, dict):
                yield SourceRecord(source, problem=BAD_RECORD, detail="not a JSON object", size=size)
                continue
            if columns is None:
                # The first object decides the columns; a missing --text-field stops here.
                columns = resolve_columns(list(row), text_field, explicit, str(file))
            text_column, mapping = columns
            text = row.get(text_column)
            if not isinstance(text, str):
                yield SourceRecord(source, problem=MISSING_TEXT, detail=f"no string {text_column!r}", size=size)
                continue
            yield SourceRecord(source, text=text, metadata=metadata_from(row, mapping), size=size)
