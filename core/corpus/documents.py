"""One found item -> one cleaned document or one drop with its reason.

Pure functions, no store: the fuzz tests feed them mutated mail and check that every input
ends as a `Candidate` or a `Dropped`, and that no exception escapes.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from dataclasses import dataclass, field

from core.corpus.email_cleaning import SenderNames, clean_body, normalise_for_hash
from core.corpus.email_parsing import parse_email
from core.corpus.files import looks_binary
from core.corpus.records import (
    BINARY,
    EMPTY,
    FORWARD_ONLY,
    NO_SENDER,
    NOT_FROM_SENDER,
    TOO_SHORT,
    Candidate,
    Dropped,
    SourceRecord,
)

UNPARSEABLE = "unparseable"
_FORWARD_SUBJECT = re.compile(r"\s*(fw|fwd|tr|wg)\s*:", re.I)
_WORDS = re.compile(r"\w+", re.UNICODE)

# What the stdlib parser can raise on hostile input; anything else is a bug and must surface.
_PARSER_ERRORS = (
    ValueError,
    TypeError,
    LookupError,
    UnicodeError,
    IndexError,
    AttributeError,
    AssertionError,
    RecursionError,
)


@dataclass(frozen=True)
class CleaningRules:
    """What the pipeline keeps: whose mail, which genre, how short is too short."""

    senders: frozenset[str] = frozenset()
    """From addresses to keep (lower case); empty keeps every sender."""
    names: SenderNames = field(default_factory=SenderNames)
    """The person's name tokens, to recognise their sign-off."""
    email_like: bool = True
    """Look for reply quotes and sign-offs in text records too (genre email)."""
    min_words: int = 3


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_for_hash(text).encode("utf-8")).hexdigest()


def document_from_record(record: SourceRecord, rules: CleaningRules) -> Candidate | Dropped:
    if record.problem:
        return Dropped(record.problem, record.source, record.detail)
    if record.raw is not None:
        return document_from_email(record.raw, rules, source=record.source)
    return document_from_text(record.text or "", record.metadata, rules, source=record.source)


def document_from_email(raw: bytes, rules: CleaningRules, *, source: str = "") -> Candidate | Dropped:
    """Parse, filter by sender and clean one RFC 822 message."""
    if looks_binary(raw):
        return Dropped(BINARY, source, "NUL or control bytes")
    try:
        parsed = parse_email(raw)
    except _PARSER_ERRORS as exc:
        return Dropped(UNPARSEABLE, source, f"{exc.__class__.__name__}: {str(exc)[:60]}")
    if rules.senders:
        if not parsed.sender:
            return Dropped(NO_SENDER, source)
        if parsed.sender not in rules.senders:
            return Dropped(NOT_FROM_SENDER, source, parsed.sender, sender=parsed.sender)
    names = _merge_names(rules.names, SenderNames.from_identity(parsed.sender, [parsed.sender_name]))
    cleaned = clean_body(parsed.body, names)
    forwarded = (
        cleaned.forwarded
        or parsed.has_attached_message
        or bool(parsed.subject and _FORWARD_SUBJECT.match(parsed.subject))
    )
    candidate = Candidate(
        text=cleaned.text,
        content_hash="",
        source=source,
        sender=parsed.sender,
        recipients=", ".join(parsed.recipients) or None,
        subject=parsed.subject,
        date=parsed.date,
        message_id=parsed.message_id,
        previous_context=cleaned.previous_context,
        signoff=cleaned.closing,
        signature=cleaned.signature,
    )
    return _judge(candidate, forwarded, rules)


def document_from_text(
    text: str, metadata: dict[str, str | None], rules: CleaningRules, *, source: str = ""
) -> Candidate | Dropped:
    """Clean one text record (a .txt file, a JSONL line, a CSV row)."""
    if "\x00" in text[:8192]:
        return Dropped(BINARY, source, "NUL characters")
    sender = _address(metadata.get("sender"))
    if rules.senders and sender and sender not in rules.senders:
        return Dropped(NOT_FROM_SENDER, source, sender, sender=sender)
    names = _merge_names(rules.names, SenderNames.from_identity(sender, [_display_name(metadata.get("sender"))]))
    cleaned = clean_body(text, names, email_like=rules.email_like)
    subject = metadata.get("subject")
    forwarded = cleaned.forwarded or bool(rules.email_like and subject and _FORWARD_SUBJECT.match(subject))
    candidate = Candidate(
        text=cleaned.text,
        content_hash="",
        source=source,
        sender=sender,
        recipients=metadata.get("recipients"),
        subject=subject,
        date=metadata.get("date"),
        message_id=metadata.get("message_id"),
        previous_context=metadata.get("previous_context") or cleaned.previous_context,
        signoff=cleaned.closing,
        signature=cleaned.signature,
    )
    return _judge(candidate, forwarded, rules)


def _judge(candidate: Candidate, forwarded: bool, rules: CleaningRules) -> Candidate | Dropped:
    words = len(_WORDS.findall(candidate.text[:10_000]))
    if words == 0:
        return Dropped(FORWARD_ONLY if forwarded else EMPTY, candidate.source, sender=candidate.sender)
    if words < rules.min_words:
        return Dropped(
            FORWARD_ONLY if forwarded else TOO_SHORT, candidate.source, f"{words} words", sender=candidate.sender
        )
    candidate.content_hash = content_hash(candidate.text)
    return candidate


def _merge_names(first: SenderNames, second: SenderNames) -> SenderNames:
    if not first:
        return second
    if not second:
        return first
    return SenderNames(first.tokens | second.tokens, first.initials | second.initials)


def _address(value: str | None) -> str | None:
    if not value:
        return None
    _, address = email.utils.parseaddr(value)
    address = address.strip().lower()
    return address if "@" in address else value.strip().lower()[:200] or None


def _display_name(value: str | None) -> str | None:
    if not value:
        return None
    name, _ = email.utils.parseaddr(value)
    return name or None
