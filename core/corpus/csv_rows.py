"""CSV files with a header row: one document per row, the text in a named column."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from pathlib import Path

from core.corpus.fields import metadata_from, resolve_columns
from core.corpus.files import bounded_lines, decode_text, file_size, walk_files
from core.corpus.records import BAD_RECORD, MISSING_TEXT, TOO_LARGE, UNREADABLE, SourceRecord
from core.errors import CorpusError

CSV_SUFFIXES = (".csv", ".tsv")


def csv_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    return [file for file in walk_files(path) if file.suffix.lower() in CSV_SUFFIXES]


def iter_csv(
    files: list[Path], max_bytes: int, text_field: str | None, explicit: Mapping[str, str]
) -> Iterator[SourceRecord]:
    # csv's limit is process-wide: set it to this import's own limit every time (an earlier import
    # with a larger limit must not let an oversized field through).
    csv.field_size_limit(max_bytes)
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
    with handle:
        lines = _Lines(handle, max_bytes)
        reader = csv.reader(lines, delimiter=_delimiter(file))
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CorpusError(f"{file}: the header row is not valid CSV ({exc}); check the file") from None
        if lines.too_long:
            raise CorpusError(f"{file}: the first line is over {max_bytes:,} bytes, not a CSV header row")
        columns = [name.strip() for name in header]
        text_column, mapping = resolve_columns(columns, text_field, explicit, str(file))
        text_index = columns.index(text_column)
        number = 1
        while True:
            lines.too_long = False
            lines.open_quote = False
            start = lines.consumed
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                if "field larger than field limit" in str(exc) and lines.open_quote:
                    # The reader gave up inside a quoted field: read past its closing quote, or
                    # every line left in it would come back as a record of its own.
                    lines.skip_open_field()
                    yield SourceRecord(
                        f"{file}#{number}",
                        problem=TOO_LARGE,
                        detail="a quoted field over the size limit",
                        size=lines.consumed - start,
                    )
                    continue
                yield SourceRecord(
                    f"{file}#{number}", problem=BAD_RECORD, detail=str(exc)[:80], size=lines.consumed - start
                )
                continue
            number += 1
            source, size = f"{file}#{number}", lines.consumed - start
            if lines.too_long:
                yield SourceRecord(source, problem=TOO_LARGE, detail="line over the size limit", size=size)
                continue
            if not values or not any(v.strip() for v in values):
                continue
            row = dict(zip(columns, values))
            text = values[text_index] if text_index < len(values) else None
            if text is None:
                yield SourceRecord(source, problem=MISSING_TEXT, detail=f"row has no {text_column!r}", size=size)
                continue
            yield SourceRecord(source, text=text, metadata=metadata_from(row, mapping), size=size)


class _Lines:
    """Decoded lines for csv.reader; an over-long line becomes an empty line and a flag."""

    def __init__(self, handle: io.BufferedReader, max_bytes: int):
        self._lines = bounded_lines(handle, max_bytes)
        self.too_long = False
        self.consumed = 0
        self.open_quote = False
        """Whether the record being read has a quoted field still open (an odd count of quotes)."""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line, size = next(self._lines)
        self.consumed += size
        if line is None:
            self.too_long = True
            return "\n"
        if line.count(b'"') % 2:
            self.open_quote = not self.open_quote
        return decode_text(line)

    def skip_open_field(self) -> None:
        """Consume lines up to the one that closes the open quoted field (`""` inside stays even)."""
        for line, size in self._lines:
            self.consumed += size
            if line is not None and line.count(b'"') % 2:
                break
        self.open_quote = False


def _delimiter(file: Path) -> str:
    """Comma, unless the header line says tab or semicolon (Excel in many locales)."""
    if file.suffix.lower() == ".tsv":
        return "\t"
    try:
        with open(file, "rb") as handle:
            header = handle.readline(65536)
    except OSError:
        return ","
    counts = {delimiter: header.count(delimiter.encode()) for delimiter in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))
