"""Email parsing and cleaning: each kind of quote, forward, signature and encoding."""

from __future__ import annotations

import base64
import quopri

import pytest

from core.corpus.documents import CleaningRules, document_from_email
from core.corpus.email_cleaning import SenderNames, clean_body
from core.corpus.email_parsing import parse_email, sender_of
from core.corpus.html_text import html_to_text
from core.corpus.records import Candidate, Dropped

ANN = SenderNames.from_identity("ann.lee@example.com", ["Lee, Ann"])


def message(
    body: bytes | str,
    *,
    ctype: str = "text/plain; charset=utf-8",
    cte: str = "8bit",
    subject: str = "Hello",
    sender: str = "Ann Lee <ann.lee@example.com>",
    extra: str = "",
) -> bytes:
    data = body.encode("utf-8") if isinstance(body, str) else body
    head = (
        f"From: {sender}\nTo: Bo <bo@example.com>\nSubject: {subject}\nDate: Mon, 4 Mar 2024 09:00:00 +0100\n"
        f"Message-ID: <m1@example.com>\nContent-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n{extra}\n"
    )
    return head.encode() + data


def test_original_message_block_becomes_previous_context():
    cleaned = clean_body(
        "Bo,\n\nFriday works for me.\n\nAnn\n\n -----Original Message-----\nFrom: \tBo\nSent:\tMonday\n"
        "To:\tLee, Ann\nSubject:\tMeeting\n\nCan we meet on Friday?\n\nBo\n",
        ANN,
    )
    assert cleaned.text == "Bo,\n\nFriday works for me.\n\nAnn"
    assert cleaned.closing == "Ann" and cleaned.signature is None
    assert cleaned.previous_context == "Can we meet on Friday?\n\nBo"
    assert cleaned.quoted and not cleaned.forwarded


def test_on_wrote_attribution_over_two_lines_and_quoted_lines():
    cleaned = clean_body(
        "Sounds good, see you then.\n\nOn Mon, Mar 4, 2024 at 9:00 AM Bo Berg <\nbo@example.com> wrote:\n\n"
        "> Lunch at noon?\n>\n> Bo\n>> older quote\n",
        ANN,
    )
    assert cleaned.text == "Sounds good, see you then."
    assert cleaned.previous_context == "Lunch at noon?\n\nBo"


def test_outlook_header_block_without_separator():
    cleaned = clean_body(
        "I'll send it today.\n\n________________________________\nFrom: Bo Berg <bo@example.com>\n"
        "Sent: Monday, March 4, 2024 9:00 AM\nTo: Ann Lee\nSubject: report\n\nWhere is the report?\n",
        ANN,
    )
    assert cleaned.text == "I'll send it today."
    assert cleaned.previous_context == "Where is the report?"


def test_header_block_that_lost_its_from_label():
    cleaned = clean_body(
        "Answers below.\n\n     : bo@aol.com [mailto:bo@aol.com]\nSent: Monday, October 08, 2001 8:36 PM\n"
        "To: Lee, Ann\nSubject: Homework\n\nHi Ann, a few questions.\n",
        ANN,
    )
    assert cleaned.text == "Answers below."
    assert cleaned.previous_context == "Hi Ann, a few questions."


def test_lotus_notes_header_block():
    cleaned = clean_body(
        "Please handle this.\n\n\nJames Steffes@ENRON\n06/24/2001 09:56 AM\nTo:\tLeslie Lawner/NA/Enron@Enron\n"
        "cc:\t\nSubject:\tRE: plans\n\nWhat about 6 month plans?\n",
        ANN,
    )
    assert cleaned.text == "Please handle this."
    assert cleaned.previous_context == "What about 6 month plans?"


def test_inline_answers_keep_the_persons_lines_only():
    cleaned = clean_body("> Can you come?\nYes.\n> At what time?\nNoon is best for me.\n", ANN)
    assert cleaned.text == "Yes.\nNoon is best for me."
    assert cleaned.previous_context == "Can you come?\nAt what time?"


def test_forward_marker_sets_forwarded():
    cleaned = clean_body(
        "FYI, see below.\n\n---------------------- Forwarded by Ann Lee/HOU/ECT on 05/01/2001 ---------------------------\n"
        "The meeting moved to 3pm.\n",
        ANN,
    )
    assert cleaned.forwarded
    assert cleaned.text == "FYI, see below."
    assert cleaned.previous_context == "The meeting moved to 3pm."


@pytest.mark.parametrize(
    ("body", "text", "closing", "signature"),
    [
        ("Bo,\n\nDone.  All good.\n\nThanks,\nAnn", "Bo,\n\nDone.  All good.\n\nThanks,\nAnn", "Thanks,\nAnn", None),
        (
            "Done, all good.\n\nRegards,\n\nAnn Lee\nSenior Trader\nExample Corp\n+1 713 555 0100",
            "Done, all good.\n\nRegards,\n\nAnn Lee",
            "Regards,\n\nAnn Lee",
            "Senior Trader\nExample Corp\n+1 713 555 0100",
        ),
        ("Done, all good.\nAL", "Done, all good.\nAL", "AL", None),
        ("Done, all good.\n\nThanks, Ann", "Done, all good.\n\nThanks, Ann", "Thanks, Ann", None),
        (
            "Done, all good.\n\n-- \nAnn Lee | Example Corp\n555 0100",
            "Done, all good.",
            None,
            "Ann Lee | Example Corp\n555 0100",
        ),
        ("Done, all good.\n\nCheers,\nMaggie", "Done, all good.\n\nCheers,\nMaggie", "Cheers,\nMaggie", None),
        ("Done, all good.\n\nThanks.", "Done, all good.\n\nThanks.", "Thanks.", None),
        (
            "Done.\n\nThanks,\nAnn Lee\n(303) 575-6485 Office\n(303) 807-6131 Cell",
            "Done.\n\nThanks,\nAnn Lee",
            "Thanks,\nAnn Lee",
            "(303) 575-6485 Office\n(303) 807-6131 Cell",
        ),
        ("Done.\n\nAnn\n(303) 575-6485", "Done.\n\nAnn", "Ann", "(303) 575-6485"),
    ],
)
def test_the_closing_stays_in_the_text_and_the_signature_block_is_cut(
    body: str, text: str, closing: str | None, signature: str | None
):
    """The person's valediction and name are their words (every stage must see them); title, company and phones are not."""
    cleaned = clean_body(body, ANN)
    assert cleaned.text == text
    assert cleaned.closing == closing
    assert cleaned.signature == signature


def test_quoted_header_block_starting_at_to_is_not_the_persons_text():
    cleaned = clean_body(
        "Fine, go ahead.\n\nAnn\n\nTo: Lee, Ann\ncc: Berg, Bo\nSubject: RE: plan\n\nShall we go ahead?\n", ANN
    )
    assert cleaned.text == "Fine, go ahead.\n\nAnn"
    assert cleaned.previous_context == "Shall we go ahead?"


def test_a_reply_separator_after_the_name_starts_the_quote():
    cleaned = clean_body(
        "Yes, send it.\nAnn\n______________________________ Reply Separator _________________________________\n"
        "Subject: report\nAuthor: Bo Berg\nDate: 3/4/2001 9:00 AM\n\nShall I send the report?\n",
        ANN,
    )
    assert cleaned.text == "Yes, send it.\nAnn"
    assert cleaned.closing == "Ann"
    assert "Reply Separator" not in cleaned.text and "Subject:" not in cleaned.text
    assert cleaned.previous_context == "Shall I send the report?"


def test_a_list_of_names_at_the_end_is_not_a_signature():
    body = "Please invite:\nBo Berg\nAnn Lee\nCal Dorn\nDee Eck"
    assert clean_body(body, ANN).text == body


def test_signoff_in_the_middle_ends_the_message_when_text_is_pasted_below():
    cleaned = clean_body(
        "Group,\nPlease read the note below.\n\nThanks,\nAnn\n\n\n\nCorrection:\nUnit 3 is down.\n", ANN
    )
    assert cleaned.text == "Group,\nPlease read the note below.\n\nThanks,\nAnn"
    assert cleaned.previous_context == "Correction:\nUnit 3 is down."


def test_legal_disclaimer_is_dropped():
    cleaned = clean_body(
        "See you Monday.\n\n**********\nThis e-mail is the property of Example Corp. and may contain confidential and "
        "privileged material for the sole use of the intended recipient. Any review or distribution by others is "
        "strictly prohibited.\n**********\n",
        ANN,
    )
    assert cleaned.text == "See you Monday."


def test_placeholders_and_mobile_footers_are_dropped():
    cleaned = clean_body(
        "Here is the file.\n\n << File: west_delta.xls >> \n<Embedded Picture (Metafile)>\nSent from my iPhone", ANN
    )
    assert cleaned.text == "Here is the file."


def test_quoted_printable_utf8_body():
    body = quopri.encodestring("Två veckor räcker, tycker du inte det?\n".encode())
    parsed = parse_email(message(body, cte="quoted-printable"))
    assert parsed.body.strip() == "Två veckor räcker, tycker du inte det?"


def test_base64_html_only_body_is_converted_to_text():
    html = "<html><head><style>p{}</style></head><body><p>Hi Bo,</p><p>Paid &ndash; thanks!</p></body></html>"
    parsed = parse_email(message(base64.encodebytes(html.encode()), ctype="text/html; charset=utf-8", cte="base64"))
    assert parsed.body_was_html
    assert parsed.body == "Hi Bo,\n\nPaid – thanks!"


def test_html_blockquote_becomes_previous_context():
    text = html_to_text(
        "<div>Yes, Tuesday.</div><div class=gmail_quote>On Mon, Bo wrote:<blockquote>Tuesday?</blockquote></div>"
    )
    cleaned = clean_body(text, ANN)
    assert cleaned.text == "Yes, Tuesday."
    assert cleaned.previous_context == "Tuesday?"


def test_multipart_alternative_prefers_plain_text():
    raw = message(
        "--b\nContent-Type: text/plain; charset=utf-8\n\nPlain words here.\n--b\nContent-Type: text/html\n\n<p>HTML words</p>\n--b--\n",
        ctype='multipart/alternative; boundary="b"',
    )
    assert parse_email(raw).body.strip() == "Plain words here."


@pytest.mark.parametrize(
    ("declared", "payload"),
    [
        ("us-ascii", "Café crème at noon".encode()),  # wrong: it is UTF-8
        ("utf-8", "Café crème at noon".encode("cp1252")),  # wrong: it is cp1252
        ("x-unknown-charset", "Café crème at noon".encode()),  # unknown codec
        (None, "Café crème at noon".encode()),  # undeclared
        ("iso-8859-1", "Café crème at noon".encode()),  # latin-1 declared, UTF-8 sent
    ],
)
def test_wrong_or_missing_charset_still_decodes(declared: str | None, payload: bytes):
    ctype = f"text/plain; charset={declared}" if declared else "text/plain"
    assert parse_email(message(payload, ctype=ctype)).body == "Café crème at noon"


def test_encoded_and_raw_8bit_headers_are_decoded():
    raw = message(
        "Body text here.",
        subject="=?utf-8?q?R=C3=A4ksm=C3=B6rg=C3=A5s?=",
        sender="=?iso-8859-1?q?J=F6rg?= <jorg@example.com>",
    )
    parsed = parse_email(raw)
    assert parsed.subject == "Räksmörgås"
    assert parsed.sender == "jorg@example.com" and parsed.sender_name == "Jörg"
    raw8 = "Subject: Grüße\nFrom: Jörg <jorg@example.com>\n\nHallo.".encode()
    parsed8 = parse_email(raw8)
    assert parsed8.subject == "Grüße" and parsed8.sender_name == "Jörg"


def test_sender_of_reads_folded_headers_only():
    assert sender_of(b'Subject: x\nFrom: "Lee, Ann"\n <ann.lee@example.com>\nX-From: Ann\n') == (
        "ann.lee@example.com",
        "Lee, Ann",
    )
    assert sender_of(b"From: k..allen@enron.com\nX-From: Allen, Phillip K. </O=ENRON/CN=PALLEN>\n") == (
        "k..allen@enron.com",
        "Allen, Phillip K.",
    )


def test_truncated_multipart_gives_a_document_or_a_reason():
    raw = message("--b\nContent-Type: text/plain\n\nHalf a message that stops", ctype='multipart/mixed; boundary="b"')
    outcome = document_from_email(raw, CleaningRules())
    assert isinstance(outcome, Candidate) and outcome.text == "Half a message that stops"
    outcome = document_from_email(raw[:60], CleaningRules())
    assert isinstance(outcome, Dropped) and outcome.reason == "empty"


def test_forward_only_and_too_short_and_other_sender():
    forward = message("---------- Forwarded message ---------\nFrom: Bo\n\nHello there everyone.", subject="Fwd: hi")
    assert document_from_email(forward, CleaningRules()).reason == "forward_only"
    assert document_from_email(message("ok"), CleaningRules()).reason == "too_short"
    rules = CleaningRules(senders=frozenset({"someone@else.com"}))
    assert document_from_email(message("A proper message of some length."), rules).reason == "not_from_sender"


@pytest.mark.timeout(60)
def test_long_lines_do_not_blow_up_the_cleaner():
    """Marker-like text inside a 3.6 MB line: linear work, no regex backtracking."""
    line = ("a" * 50 + " > -----Original Message----- On x wrote: ") * 40_000
    cleaned = clean_body(line + "\n\nThanks,\nAnn", ANN)
    assert cleaned.text == line.rstrip() + "\n\nThanks,\nAnn" and cleaned.closing == "Thanks,\nAnn"


SARAH = SenderNames.from_identity("sarah.kim@acme.com", ["Sarah Kim"])


@pytest.mark.parametrize(
    ("body", "text", "previous"),
    [
        # Gmail, quote below with a '-- ' signature inside the quote
        (
            "Sounds great, see you at 7!\n\nSarah\n\nOn Tue, Jun 4, 2024 at 3:12 PM Tom Baker <tom@example.com> wrote:\n\n"
            "> Dinner Thursday?\n>\n> --\n> Tom\n",
            "Sounds great, see you at 7!\n\nSarah",
            "Dinner Thursday?",
        ),
        # Apple Mail on a phone: the attribution itself is quoted
        (
            "Yes please.\n\nSent from my iPhone\n\n> On Jun 4, 2024, at 15:12, Tom Baker <tom@example.com> wrote:\n> \n"
            "> Want the tickets?\n",
            "Yes please.",
            "Want the tickets?",
        ),
        # German Outlook header block and closing
        (
            "Passt, danke dir!\n\nViele Grüße\nSarah\n\nVon: Tom Baker <tom@example.com>\nGesendet: Dienstag, 4. Juni 2024\n"
            "An: Sarah Kim\nBetreff: Termin\n\nGeht Donnerstag?\n",
            "Passt, danke dir!\n\nViele Grüße\nSarah",
            "Geht Donnerstag?",
        ),
        # French Gmail attribution
        (
            "Parfait, à jeudi.\n\nLe mar. 4 juin 2024 à 15:12, Tom <tom@example.com> a écrit :\n> On se voit jeudi ?\n",
            "Parfait, à jeudi.",
            "On se voit jeudi ?",
        ),
        # A client that quotes without '>'
        (
            "Fine by me.\n\nOn Tue, Jun 4, 2024 at 3:12 PM Tom Baker <tom@example.com> wrote:\n\nDinner Thursday?\n",
            "Fine by me.",
            "Dinner Thursday?",
        ),
        # Bottom posting
        (
            "On Tue, Tom wrote:\n> Dinner Thursday?\n\nYes, Thursday is good.\n",
            "Yes, Thursday is good.",
            "Dinner Thursday?",
        ),
        # Inline answers under an attribution
        (
            "Tom Baker wrote:\n> Can you do Monday?\nYes, Monday at ten.\n> And the budget?\nStill waiting on finance.\n\nSarah",
            "Yes, Monday at ten.\nStill waiting on finance.\n\nSarah",
            "Can you do Monday?\nAnd the budget?",
        ),
        # Mailing-list footer
        (
            "I think the patch is fine, merging it tomorrow.\n\n_______________________________________________\n"
            "dev mailing list\ndev@lists.example.org\nhttps://lists.example.org/mailman/listinfo/dev\n",
            "I think the patch is fine, merging it tomorrow.",
            None,
        ),
        # Google Groups footer after a '--' line
        (
            'Merged, thanks.\n\n--\nYou received this message because you are subscribed to the Google Groups "dev" group.\n'
            "To unsubscribe from this group, send email to dev+unsubscribe@googlegroups.com.\n",
            "Merged, thanks.",
            None,
        ),
        # Mentioning a mailing list is not a footer
        (
            "Please add Ann and Bo to the mailing list for the launch.",
            "Please add Ann and Bo to the mailing list for the launch.",
            None,
        ),
        # Phone footers
        ("On my way, ten minutes.\n\nSent from Mail for Windows\n", "On my way, ten minutes.", None),
        ("Got it.  Will call later today.\n\nGet Outlook for Android\n", "Got it.  Will call later today.", None),
    ],
)
def test_other_clients_and_languages(body: str, text: str, previous: str | None):
    cleaned = clean_body(body, SARAH)
    assert cleaned.text == text
    assert cleaned.previous_context == previous


def test_a_ps_after_the_closing_stays_and_so_does_the_closing():
    cleaned = clean_body("The draft looks good to me.\n\nThanks,\nSarah\n\nP.S. Don't forget the slides.\n", SARAH)
    assert cleaned.text == "The draft looks good to me.\n\nThanks,\nSarah\n\nP.S. Don't forget the slides."
    assert cleaned.closing == "Thanks,\nSarah"


def test_posts_and_reviews_keep_their_structure():
    review = "> 5 stars from me.\nThe blender is loud but it crushes ice.\n\nThanks,\nSarah"
    cleaned = clean_body(review, SARAH, email_like=False)
    assert cleaned.text == review
