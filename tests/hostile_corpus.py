"""Hostile and awkward inputs for `pa import`, generated (nothing large is committed).

`python -m tests.hostile_corpus FOLDER` writes every case into its own subfolder; tests call
the builders one by one. Each case once lost text silently; each must now be read or
counted as a drop with its reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

BODY = "Hello Bo, shipment {i} leaves on Tuesday and should arrive before the weekend. Thanks, Ann"


def message(i: int, newline: str = "\n") -> str:
    lines = [
        "From: Ann Lee <ann@example.com>",
        "To: bo@example.com",
        f"Subject: Shipment {i}",
        "Date: Mon, 04 Mar 2024 09:00:00 +0100",
        f"Message-ID: <hostile-{i}@example.com>",
        "",
        BODY.format(i=i),
        "",
    ]
    return newline.join(lines)


def mbox_without_separators(folder: Path, count: int = 5) -> Path:
    """Messages one after another with blank lines between, no `From ` lines (a hand-made export)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export.mbox"
    path.write_text("\n".join(message(i) for i in range(count)), encoding="utf-8")
    return path


def mbox_cr_only(folder: Path, count: int = 5) -> Path:
    """An old Mac mbox: lines end in CR alone."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "classic.mbox"
    text = "".join(f"From ann@example.com Mon Mar  4 09:00:00 2024\r{message(i, chr(13))}\r" for i in range(count))
    path.write_bytes(text.encode("ascii"))
    return path


def deeply_nested_multipart(folder: Path, depth: int = 500) -> Path:
    """The person's text inside 500 nested multipart/mixed containers."""
    folder.mkdir(parents=True, exist_ok=True)
    head = "From: Ann Lee <ann@example.com>\nTo: bo@example.com\nSubject: Nested\nMessage-ID: <nested@example.com>\nMIME-Version: 1.0\n"
    parts = []
    for level in range(depth):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n')
    inner = "Content-Type: text/plain; charset=utf-8\n\n" + BODY.format(i="deep") + "\n"
    closing = "".join(f"\n--b{level}--\n" for level in reversed(range(depth)))
    path = folder / "nested.eml"
    path.write_text(head + "".join(parts) + inner + closing, encoding="utf-8")
    return path


def utf16_text_files(folder: Path) -> list[Path]:
    """Windows Notepad's 'Unicode': UTF-16 with a BOM, and UTF-16-LE without one."""
    folder.mkdir(parents=True, exist_ok=True)
    with_bom = folder / "note-bom.txt"
    with_bom.write_bytes(("Dear Bo, " + BODY.format(i="u16 bom")).encode("utf-16"))
    without = folder / "note-le.txt"
    without.write_bytes(("Dear Bo, " + BODY.format(i="u16 le")).encode("utf-16-le"))
    return [with_bom, without]


JAPANESE = "山田様、明日の会議は午後三時からです。資料は事前にお送りします。よろしくお願いいたします。"


def shift_jis_text_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "memo.txt"
    path.write_bytes(JAPANESE.encode("shift_jis"))
    return path


def mislabelled_shift_jis_email(folder: Path) -> Path:
    """A Japanese body in Shift-JIS whose header claims ISO-8859-1 (mixed charsets)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "memo.eml"
    head = (
        "From: Ann Lee <ann@example.com>\nTo: bo@example.com\nSubject: memo\nMessage-ID: <sjis@example.com>\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
    )
    path.write_bytes(head.encode("ascii") + JAPANESE.encode("shift_jis") + b"\n")
    return path


def csv_with_a_huge_multiline_field(folder: Path, field_bytes: int, rows_after: int = 3) -> Path:
    """A quoted text field of many lines over the size limit, between ordinary rows."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "posts.csv"
    line = "x" * 99 + "\n"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("author,message\n")
        out.write(f'ann,"{BODY.format(i="before")}"\n')
        out.write('ann,"')
        for _ in range(field_bytes // len(line)):
            out.write(line)
        out.write('end of the huge field"\n')
        for i in range(rows_after):
            out.write(f'ann,"{BODY.format(i=f"after {i}")}"\n')
    return path


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    mbox_without_separators(root / "no-separators")
    mbox_cr_only(root / "cr-only")
    deeply_nested_multipart(root / "nested")
    utf16_text_files(root / "utf16")
    shift_jis_text_file(root / "shift-jis")
    mislabelled_shift_jis_email(root / "mixed-charset")
    csv_with_a_huge_multiline_field(root / "csv", 30_000_000)
    print(f"wrote the hostile corpus to {root}")
