"""Raw RFC 822 bytes to decoded headers and one body text, whatever the MIME says.

Real mailboxes lie about charsets, truncate multiparts and mix HTML with plain text, so every
step here has a fallback and nothing raises on malformed input: the worst case is an empty body,
which the pipeline then drops with a reason. The stdlib `compat32` parser is used because it is
about seven times faster than the `default` policy and tolerates more breakage.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.utils
import re
from dataclasses import dataclass, field
from email.message import Message

from core.corpus.html_text import html_to_text

FALLBACK_CHARSETS = ("utf-8", "cp1252", "latin-1")
"""Tried in order after the declared charset; latin-1 never fails, so decoding always ends."""

SINGLE_BYTE_CHARSETS = {"iso-8859-1", "latin-1", "latin1", "cp1252", "windows-1252", "us-ascii", "ascii"}
"""Declared charsets that mailers often put on bodies that are really UTF-8."""

LEGACY_GUESS_MIN_BYTES = 16
"""Non-ASCII bytes a text needs before its charset is guessed from them (a name like Jörg is too short)."""

MAX_PARTS = 200
"""Leaf parts looked at per message; a bomb of many parts stops here. Multipart containers do
not count: the parser has built them already, and text nested 500 deep is still the person's."""

_SURROGATE = re.compile("[\udc80-\udcff]")
_SENDER_HEADER = re.compile(rb"(?im)^(from|x-from)[ \t]*:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")
_ANGLE_ADDRESS = re.compile(r"<\s*([^<>@\s]+@[^<>@\s]+?)\s*>")
_BARE_ADDRESS = re.compile(r"\s*([^\s<>@\",;:()]+@[^\s<>@\",;:()]+)\s*")
_ANY_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*")
_QP_SOFT_BREAK = re.compile(rb"=\r?\n")
_QP_ESCAPE = re.compile(rb"=[0-9A-F]{2}")


@dataclass
class ParsedEmail:
    """What one message says, decoded to str; `body` is the chosen text part (HTML converted)."""

    sender: str | None = None
    """The From address, lower-cased."""
    sender_name: str | None = None
    """The From display name (or X-From, which Exchange exports put the name in)."""
    recipients: list[str] = field(default_factory=list)
    subject: str | None = None
    date: str | None = None
    """ISO 8601 when the Date header parses, else the header as written."""
    message_id: str | None = None
    in_reply_to: str | None = None
    body: str = ""
    body_was_html: bool = False
    has_attached_message: bool = False
    """A message/rfc822 part: the usual shape of a forward-as-attachment."""
    defects: list[str] = field(default_factory=list)


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one message; never raises for any input bytes."""
    message = email.message_from_bytes(raw)
    headers = _raw_headers(message)
    parsed = ParsedEmail()
    parsed.defects = [type(defect).__name__ for defect in message.defects]
    name, address = _address(headers.get("from"))
    parsed.sender = address
    parsed.sender_name = name or _x_from_name(headers.get("x-from"))
    parsed.recipients = _addresses(message)
    parsed.subject = _header_text(headers.get("subject")) or None
    parsed.date = _iso_date(headers.get("date"))
    parsed.message_id = _message_id(headers.get("message-id"))
    parsed.in_reply_to = _message_id(headers.get("in-reply-to"))
    plain, html, attached = _text_parts(message)
    parsed.has_attached_message = attached
    if plain.strip():
        parsed.body = plain
    elif html.strip():
        parsed.body = html_to_text(html)
        parsed.body_was_html = True
    return parsed


def sender_of(raw_headers: bytes) -> tuple[str | None, str | None]:
    """(address, display name) from a header block alone; the cheap first pass of an import
    reads only the From and X-From lines (with their folded continuations)."""
    found: dict[bytes, bytes] = {}
    for match in _SENDER_HEADER.finditer(raw_headers):
        found.setdefault(match.group(1).lower(), match.group(2))
    values = {name: _repair_surrogates(value.decode("ascii", "surrogateescape")) for name, value in found.items()}
    name, address = _address(values.get(b"from"))
    return address, name or _x_from_name(values.get(b"x-from"))


# -- headers -------------------------------------------------------------------------------


def _raw_headers(message: Message) -> dict[str, str]:
    """First value per lower-cased name, as written (8-bit bytes kept as surrogates)."""
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        headers.setdefault(str(name).lower(), value if isinstance(value, str) else str(value))
    return headers


def _header_text(value: object) -> str:
    """Decode RFC 2047 words and raw 8-bit bytes; collapse folding whitespace."""
    if value is None:
        return ""
    text = _repair_surrogates(str(value))
    if "=?" in text:
        try:
            parts = email.header.decode_header(text)
            text = "".join(
                _decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in parts
            )
        except (ValueError, LookupError, AssertionError):
            pass  # leave the encoded words as written
    return " ".join(text.split())


def _repair_surrogates(text: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates; decode them with the fallbacks."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _decode_bytes(text.encode("utf-8", "surrogateescape"), None)


def _address(value: object) -> tuple[str | None, str | None]:
    text = _header_text(value)
    if not text:
        return None, None
    # Fast paths for the two shapes nearly every From has; parseaddr (slow) for the rest.
    bare = _BARE_ADDRESS.fullmatch(text)
    angle = None if bare else _ANGLE_ADDRESS.search(text)
    if bare:
        name, address = "", bare.group(1)
    elif angle and text.count("<") == 1:
        name, address = text[: angle.start()].strip().strip('"').strip(), angle.group(1)
    else:
        name, address = email.utils.parseaddr(text)
    address = address.strip().lower() or None
    if address and "@" not in address:
        address = None
    return (name.strip() or None), address


def _addresses(message: Message) -> list[str]:
    """Every address in To and Cc, in order, once (names are not kept)."""
    found: list[str] = []
    for name, value in message.raw_items():
        if str(name).lower() not in ("to", "cc"):
            continue
        for address in _ANY_ADDRESS.findall(_header_text(value)[:20_000]):
            address = address.lower()
            if address not in found:
                found.append(address)
    return found


def _x_from_name(value: object) -> str | None:
    """`X-From: Allen, Phillip K. </O=ENRON/...>` -> `Allen, Phillip K.`."""
    text = _header_text(value)
    text = re.sub(r"<[^>]*>", "", text).strip().strip('"').strip()
    return text or None


def _iso_date(value: object) -> str | None:
    text = _header_text(value)
    if not text:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return text[:100]
    return moment.isoformat() if moment else text[:100]


def _message_id(value: object) -> str | None:
    text = _header_text(value).strip()
    return text[:500] or None


# -- bodies --------------------------------------------------------------------------------


def _text_parts(message: Message) -> tuple[str, str, bool]:
    """The first text/plain and text/html parts that are not attachments, and whether a
    message/rfc822 part was seen."""
    plain = html = ""
    attached = False
    leaves = 0
    for part in message.walk():
        if not part.is_multipart():
            leaves += 1
            if leaves > MAX_PARTS:
                break
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            attached = True
            continue
        if part.is_multipart() or _is_attachment(part):
            continue
        if ctype == "text/plain" and not plain:
            plain = _part_text(part)
        elif ctype == "text/html" and not html:
            html = _part_text(part)
        elif part is message and part.get_content_maintype() in ("text", "multipart"):
            # text/enriched, text/x-whatever, or a multipart without a boundary (the parser
            # leaves its body as one string): still the person's words.
            plain = _part_text(part)
    return plain, html, attached


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).lower()
    return disposition.startswith("attachment")


def _part_text(part: Message) -> str:
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    try:
        payload = part.get_payload(decode=True) if encoding != "base64" else part.get_payload()
        if encoding == "base64" and isinstance(payload, str):
            payload = _decode_base64(payload)
    except (ValueError, TypeError, AssertionError):
        payload = None
    if payload is None:
        raw = part.get_payload()
        if not isinstance(raw, str):
            return ""
        payload = raw.encode("utf-8", "surrogateescape")
    if not isinstance(payload, bytes):
        return ""
    if encoding != "quoted-printable" and _looks_quoted_printable(payload):
        payload = _decode_quoted_printable(payload)
    return _decode_bytes(payload, _declared_charset(part))


def _decode_base64(text: str) -> bytes:
    """Strict base64; a body that is not base64 at all is kept as the text it is (mailers
    do label plain bodies base64), rather than decoded into noise."""
    import binascii

    compact = "".join(text.split())
    try:
        return binascii.a2b_base64(compact.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        pass
    try:  # a missing '=' padding is common and harmless
        return binascii.a2b_base64((compact + "=" * (-len(compact) % 4)).encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return text.encode("utf-8", "surrogateescape")


def _declared_charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except (ValueError, LookupError, TypeError):
        return None
    if not charset:
        return None
    return charset.strip().strip('"').lower()[:40] or None


def _decode_bytes(data: bytes, declared: str | None) -> str:
    """Declared charset first, unless UTF-8 fits better; then the fallbacks.

    A body in a legacy multi-byte charset (Shift-JIS, GB18030...) that declares none, or a
    single-byte one it is not in, is decoded by what its bytes show rather than as mojibake.
    """
    high = sum(byte > 127 for byte in data[:4096])
    if high >= LEGACY_GUESS_MIN_BYTES and (
        not declared or declared in SINGLE_BYTE_CHARSETS or not _known_codec(declared)
    ):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            from core.corpus.files import guess_legacy_text

            guessed = guess_legacy_text(data)
            if guessed is not None:
                return guessed
    candidates: list[str] = []
    if declared and _known_codec(declared):
        if declared in SINGLE_BYTE_CHARSETS and _is_multibyte_utf8(data):
            candidates.append("utf-8")
        candidates.append(declared)
    candidates.extend(FALLBACK_CHARSETS)
    for charset in candidates:
        try:
            return data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")  # pragma: no cover - latin-1 is in the fallbacks


def _known_codec(name: str) -> bool:
    try:
        info = codecs.lookup(name)
    except LookupError:
        return False
    return getattr(info, "_is_text_encoding", True)


def _is_multibyte_utf8(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _looks_quoted_printable(payload: bytes) -> bool:
    """Bodies that say 7bit but carry `=20` and soft breaks (common in old exports)."""
    if b"=" not in payload:
        return False
    soft_breaks = len(_QP_SOFT_BREAK.findall(payload[:200_000]))
    escapes = len(_QP_ESCAPE.findall(payload[:200_000]))
    return soft_breaks >= 2 and escapes >= 1


def _decode_quoted_printable(payload: bytes) -> bytes:
    import quopri

    try:
        return quopri.decodestring(payload)
    except (ValueError, TypeError):
        return payload
