"""Mutated real messages (truncated, byte-flipped, re-encoded, huge headers) through the parser
and cleaner: no exception escapes, and every input ends as a document or a drop with a reason."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.corpus.documents import CleaningRules, document_from_email
from core.corpus.email_cleaning import SenderNames, clean_body, normalise_lines
from core.corpus.records import DROP_REASONS, Candidate, Dropped
from tests.conftest import ENRON, REPO

KNOWN_REASONS = set(DROP_REASONS) | {"unparseable"}


def _seed_messages() -> list[bytes]:
    files = sorted((REPO / "examples" / "sample-corpus").rglob("*.eml"))
    for sender in ("allen-p", "williams-w3", "zufferli-j", "baughman-d", "staab-t"):
        files += sorted((ENRON / sender / "sent_items").glob("*.eml"), key=lambda p: int(p.stem))[:6]
    return [f.read_bytes() for f in files]


SEEDS = _seed_messages()
RULES = [
    CleaningRules(),
    CleaningRules(
        senders=frozenset({"k..allen@enron.com", "maya@lindqvist-studio.example"}),
        names=SenderNames.from_identity("k..allen@enron.com", ["Allen, Phillip K."]),
    ),
]


@st.composite
def mutated_messages(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "charset", "huge_header", "delete_line", "crlf"]))
        if kind == "truncate" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif kind == "flip" and data:
            for _ in range(draw(st.integers(1, 20))):
                at = draw(st.integers(0, len(data) - 1))
                data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=200))
        elif kind == "charset":
            charset = draw(st.sampled_from([b"utf-16", b"klingon", b"iso-2022-jp", b"utf-7", b"", b"cp500", b"base64"]))
            data = bytearray(
                data.replace(b"charset=us-ascii", b"charset=" + charset).replace(
                    b'charset="utf-8"', b"charset=" + charset
                )
            )
            if draw(st.booleans()):
                data = bytearray(bytes(data).decode("latin-1").encode("utf-16"))
        elif kind == "huge_header":
            name = draw(st.sampled_from([b"Subject", b"From", b"To", b"X-Junk", b"Content-Type"]))
            value = draw(st.sampled_from([b"a" * 300_000, b"=?utf-8?q?" + b"=C3" * 50_000 + b"?=", b"\t,<>@" * 30_000]))
            data[0:0] = name + b": " + value + b"\n"
        elif kind == "delete_line":
            lines = bytes(data).split(b"\n")
            if len(lines) > 1:
                del lines[draw(st.integers(0, len(lines) - 1))]
            data = bytearray(b"\n".join(lines))
        elif kind == "crlf":
            data = bytearray(bytes(data).replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r", b"\n\n"]))))
    return bytes(data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=mutated_messages(), rules=st.sampled_from(RULES))
def test_every_mutated_message_becomes_a_document_or_a_reasoned_drop(raw: bytes, rules: CleaningRules):
    outcome = document_from_email(raw, rules, source="fuzz")
    if isinstance(outcome, Dropped):
        assert outcome.reason in KNOWN_REASONS
    else:
        assert isinstance(outcome, Candidate)
        assert outcome.text.strip() and len(outcome.content_hash) == 64
        assert "\x00" not in outcome.text


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=3000)
    | st.lists(
        st.sampled_from(
            [
                "> quoted",
                "-----Original Message-----",
                "From: a",
                "Sent: b",
                "To: c",
                "Thanks,",
                "Ann",
                "-- ",
                "On Mon wrote:",
                "",
                "text here",
                "x" * 500,
            ]
        ),
        max_size=40,
    ).map("\n".join)
)
def test_the_cleaner_never_raises_and_only_removes(text: str):
    cleaned = clean_body(text, SenderNames.from_identity("ann@example.com", ["Ann Lee"]))
    assert isinstance(cleaned.text, str)
    original = set(normalise_lines(text))
    assert all(line in original for line in cleaned.text.split("\n") if line)  # lines are cut, never rewritten
