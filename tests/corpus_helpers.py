"""Small builders for corpus tests: the same messages written as mbox, maildir, eml, JSONL, CSV."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mail:
    sender: str
    subject: str
    body: str
    message_id: str
    to: str = "bo@example.com"
    date: str = "Mon, 04 Mar 2024 09:00:00 +0100"
    iso_date: str = "2024-03-04T09:00:00+01:00"

    def rfc822(self) -> bytes:
        return (
            f"From: {self.sender}\nTo: {self.to}\nSubject: {self.subject}\nDate: {self.date}\n"
            f"Message-ID: {self.message_id}\nContent-Type: text/plain; charset=utf-8\n\n{self.body}"
        ).encode()


def ann_mails(count: int = 12) -> list[Mail]:
    """Ann's mail with quotes and sign-offs, plus two from Bo."""
    mails = []
    for i in range(count):
        body = (
            f"Bo,\n\nThe shipment number {i} leaves on Tuesday and should arrive before the weekend.\n"
            f"Let me know if the dock can take it.\n\nThanks,\nAnn\n"
        )
        if i % 3 == 0:
            body += f"\n-----Original Message-----\nFrom: Bo\nSent: Monday\nTo: Ann\nSubject: shipment\n\nWhen does {i} leave?\n"
        if i % 3 == 1:
            body += f"\nOn Mon, 4 Mar 2024, Bo <bo@example.com> wrote:\n> Is {i} on time?\n"
        mails.append(Mail("Ann Lee <ann@example.com>", f"Shipment {i}", body, f"<ann-{i}@example.com>"))
    mails.append(
        Mail(
            "Bo Berg <bo@example.com>",
            "Dock",
            "The dock is free on Tuesday afternoon.\n",
            "<bo-1@example.com>",
            to="ann@example.com",
        )
    )
    mails.append(
        Mail(
            "Bo Berg <bo@example.com>",
            "Dock 2",
            "Friday is also fine for the dock.\n",
            "<bo-2@example.com>",
            to="ann@example.com",
        )
    )
    return mails


def write_mbox(path: Path, mails: list[Mail]) -> Path:
    with open(path, "wb") as out:
        for mail in mails:
            body = mail.rfc822().replace(b"\nFrom ", b"\n>From ")
            out.write(b"From ann@example.com Mon Mar  4 09:00:00 2024\n" + body + b"\n\n")
    return path


def write_maildir(root: Path, mails: list[Mail]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, mail in enumerate(mails):
        (root / ("cur" if i % 2 else "new") / f"{1700000000 + i}.M{i}P1.host:2,S").write_bytes(mail.rfc822())
    return root


def write_eml_tree(root: Path, mails: list[Mail]) -> Path:
    for i, mail in enumerate(mails):
        folder = root / f"y{i % 2}" / f"m{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.eml").write_bytes(mail.rfc822())
    return root


def write_jsonl(path: Path, mails: list[Mail]) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for mail in mails:
            out.write(
                json.dumps(
                    {
                        "from": mail.sender,
                        "to": mail.to,
                        "subject": mail.subject,
                        "date": mail.iso_date,
                        "message_id": mail.message_id,
                        "body": mail.body,
                    }
                )
                + "\n"
            )
    return path


def write_csv(path: Path, mails: list[Mail], text_column: str = "message") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["author", "title", "date", text_column])
        for mail in mails:
            writer.writerow([mail.sender, mail.subject, mail.iso_date, mail.body])
    return path
