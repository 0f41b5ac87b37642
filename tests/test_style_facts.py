"""Style facts are measured by code from hand-written texts: each extractor, the profile
aggregate, the store rows (incremental), and `pa style`."""

from __future__ import annotations

import json

import pytest

from core.cli import run
from core.store import Store
from core.style.facts_store import document_facts, load_profile_facts, refresh_facts
from core.style.final_check import expectations_for
from core.style.profile_facts import ProfileFacts
from core.style.text_facts import (
    body_of,
    find_closing,
    find_greeting,
    first_recipient,
    kind_of,
    measure,
    paragraphs_of,
    sentences_of,
    title_case_of,
)

THERESA = "Hi Sam,\n\nThe report slips to Friday. Can you warn the board?\n\nThanks,\nTheresa"


# -- greetings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "form", "name"),
    [
        ("Hi Sam,\nThe report is late.", "Hi NAME,", "Sam"),
        ("hi sam -\nthe report is late.", "hi NAME -", "sam"),
        ("Dear Mr. Smith:\nPlease find the report attached.", "Dear NAME:", "Mr. Smith"),
        ("John,\nplease call me.", "NAME,", "John"),
        ("Hi all,\nThe meeting moved.", "Hi all,", None),
        ("Team,\nThe meeting moved.", "Team,", None),
        ("Good morning Ann!\nThe meeting moved.", "Good morning NAME!", "Ann"),
        ("Hello,\nThe meeting moved.", "Hello,", None),
    ],
)
def test_a_greeting_is_read_from_the_first_line_with_the_name_replaced(text, form, name):
    greeting, body = find_greeting(text)
    assert greeting is not None and greeting.form == form and greeting.name == name
    assert "meeting" in body or "report" in body or "call" in body


def test_an_inline_greeting_keeps_the_rest_of_its_line_as_body():
    greeting, body = find_greeting("Hi Bob, the numbers are in.\nMore later.")
    assert greeting.form == "Hi NAME," and greeting.name == "Bob"
    assert body.startswith("the numbers are in.")


@pytest.mark.parametrize(
    "text",
    ["The report slips to Friday.", "I think we should wait.", "Thanks for the note.", "Thanks,\nfor everything."],
)
def test_a_text_that_starts_with_its_message_has_no_greeting(text):
    greeting, body = find_greeting(text)
    assert greeting is None and body == text


# -- closings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "valediction", "name"),
    [
        ("Please call.\n\nThanks,\nTheresa", "Thanks,", "Theresa"),
        ("Please call.\n\nBest regards,\nPhillip\nAllen", "Best regards,", "Phillip Allen"),
        ("Please call.\nThanks, Bill", "Thanks,", "Bill"),
        ("Sounds good.\nthanks\nphil", "thanks", "phil"),
        ("Please call.\n\nCheers!", "Cheers!", None),
        ("Please call me by Friday.\n-Phil", None, "-Phil"),
        ('Please call. He said "no more delays."\n\nMaya', None, "Maya"),
    ],
)
def test_a_closing_is_read_from_the_end_of_the_text(text, valediction, name):
    closing, body = find_closing(text)
    assert closing is not None
    assert (closing.valediction, closing.name) == (valediction, name)
    assert body.startswith(("Please call", "Sounds good"))
    assert name is None or name not in body


def test_a_closing_the_cleaner_moved_to_the_signoff_field_is_read_from_there():
    closing, body = find_closing("Please call me.", signoff="Thanks,\nTheresa\nVP, Trading\n713-555-1212")
    assert (closing.valediction, closing.name, closing.form) == ("Thanks,", "Theresa", "Thanks,\nTheresa")
    assert body == "Please call me."


def test_both_states_of_the_cleaner_give_the_same_facts():
    in_text = measure("Hi Sam,\nPlease call me today.\n\nThanks,\nTheresa")
    in_field = measure("Hi Sam,\nPlease call me today.", signoff="Thanks,\nTheresa\nVP Trading")
    assert in_text == in_field


def test_a_text_ending_in_a_sentence_has_no_closing():
    closing, body = find_closing("We should talk.\nThe numbers are not final yet.")
    assert closing is None and body.endswith("yet.")


# -- lengths and shape -----------------------------------------------------------------------


def test_lengths_are_measured_on_the_body_without_greeting_and_closing():
    facts = measure(THERESA)
    assert body_of(THERESA) == "The report slips to Friday. Can you warn the board?"
    assert (facts.words, facts.sentences, facts.paragraphs) == (10, 2, 1)


def test_sentences_and_paragraphs_are_split_on_end_marks_and_blank_lines():
    text = "One two. Three four!\nFive six\n\nSeven eight? Nine..."
    assert sentences_of(text) == ["One two.", "Three four!", "Five six", "Seven eight?", "Nine..."]
    assert paragraphs_of(text) == ["One two. Three four!\nFive six", "Seven eight? Nine..."]
    facts = measure(text)
    assert facts.paragraphs == 2 and facts.wrapped_paragraphs == 1 and facts.paragraph_words == [6, 3]


# -- habits ----------------------------------------------------------------------------------


def test_punctuation_and_casing_habits_are_counted():
    facts = measure("ok so i think it's fine!! really... 🙂 call me :) i'm around -- SERIOUSLY.\nbut I doubt it")
    assert facts.exclamations == 2
    assert facts.ellipses == 1
    assert facts.emoji == 1 and facts.emoticons == 1
    assert facts.lower_i == 2 and facts.upper_i == 1
    assert facts.lowercase_starts >= 1
    assert facts.shouting == 1
    assert facts.dashes == 1
    assert facts.contractions == 2


def test_contractions_are_told_from_spelt_out_forms():
    facts = measure("I am sure it is fine. We do not need to wait, and I can't stay. Don't worry.")
    assert (facts.contractions, facts.expanded) == (2, 3)


def test_formality_markers_and_openers_are_counted_as_written():
    facts = measure("Please find the attached report. Kindly review it. btw the numbers are ok.")
    assert facts.formal == {"please": 1, "kindly": 1, "please find": 1}
    assert facts.informal == {"btw": 1, "ok": 1}
    assert facts.opener == "please find the"
    assert "find the attached" in facts.phrases and "the attached report" in facts.phrases


# -- metadata: kind, recipient, title --------------------------------------------------------


def test_kind_and_recipient_come_from_the_metadata():
    assert kind_of("Re: budget", None) == "reply"
    assert kind_of("budget", "the previous message") == "reply"
    assert kind_of("Fwd: budget", None) == "forward"
    assert kind_of("budget", None) == "new"
    assert kind_of(None, None, genre="review") == "review"
    assert first_recipient("Sam Hill <Sam.Hill@Example.com>, bo@x.org") == "sam.hill@example.com"


@pytest.mark.parametrize(
    ("title", "case"),
    [
        ("Quarterly Report Slips", "title"),
        ("quarterly report slips", "lower"),
        ("The report slips to Friday", "sentence"),
        ("BIG NEWS", "upper"),
    ],
)
def test_title_casing_is_classified(title, case):
    assert title_case_of(title) == case


# -- posts and reviews -----------------------------------------------------------------------


def test_review_facts_count_ratings_recommendations_and_headlines():
    review = (
        "Great little kettle\n\nBoils fast and it is the best kettle I have owned. 4/5 stars, would recommend.\n\n★★★★"
    )
    facts = measure(review, subject="Electric Kettle 1.7", genre="review")
    assert facts.kind == "review" and facts.greeting is None and facts.valediction is None
    assert facts.headline is True
    assert facts.ratings == 2 and facts.recommend == 1 and facts.superlatives == 1
    assert facts.title_words == 3 and facts.title_case == "title"


def test_a_post_without_a_heading_line_has_no_headline():
    facts = measure(
        "I spent the weekend fixing the fence. It took longer than planned.\n\nNext week: the shed.", genre="post"
    )
    assert facts.headline is False and facts.ratings == 0


# -- the profile aggregate -------------------------------------------------------------------


def _profile(texts: list[str], recipients: list[str] | None = None) -> ProfileFacts:
    recipients = recipients or [None] * len(texts)
    return ProfileFacts.of(measure(t, recipients=r) for t, r in zip(texts, recipients))


def test_the_usual_greeting_and_closing_need_a_majority_of_enough_texts():
    texts = [f"Hi Sam,\nPoint {i} is settled now.\n\nThanks,\nTheresa" for i in range(4)] + [
        "Point five is settled.\n\nTheresa"
    ]
    facts = _profile(texts)
    assert facts.usual("greeting") == ("Hi NAME,", 4, 5)
    assert facts.usual("signed_name") == ("Theresa", 5, 5)
    assert facts.usual("valediction") == ("Thanks,", 4, 5)
    assert _profile(texts[:4]).usual("greeting") is None  # four texts prove no habit


def test_a_habit_per_recipient_wins_over_the_overall_one():
    texts = [f"Dear Ann,\nItem {i} is done.\n\nRegards,\nTheresa" for i in range(5)]
    texts += [f"Hey Bo,\nitem {i} done.\n\nT" for i in range(6)]
    recipients = ["ann@x.com"] * 5 + ["bo@x.com"] * 6
    facts = _profile(texts, recipients)
    assert facts.usual("greeting", "ann@x.com")[0] == "Dear NAME,"
    assert facts.usual("greeting", "bo@x.com")[0] == "Hey NAME,"
    assert facts.usual("greeting", "nobody@x.com")[0] == "Hey NAME,"  # the overall habit


def test_the_persons_last_sent_texts_agreeing_on_a_form_win_over_their_older_habit():
    corpus = [measure(f"Item {i} is done.\n\nRegards,\nTheresa") for i in range(8)]
    sent = [measure(f"Hi Bo,\nItem {i} is done.\n\nCheers,\nT", recipients="bo@x.com") for i in range(3)]
    facts = ProfileFacts.of(corpus, sent=sent)
    assert facts.count == 11 and facts.usual("greeting") == (None, 8, 11)  # the corpus majority
    assert facts.latest("greeting") == ("Hi NAME,",) and facts.latest("valediction") == ("Cheers,",)
    expected = expectations_for(facts, "ann@x.com")
    assert expected.greeting == ("Hi NAME,", "your last 3 sent texts")
    assert expected.signed_name == ("T", "your last 3 sent texts")
    assert expected.latest == {"greeting", "valediction", "signed_name", "band"}  # the band from those 3 too
    assert facts.as_dict()["greeting"]["latest"] == {"form": "Hi NAME,", "last_sent_texts": 3}


def test_fewer_or_disagreeing_sent_texts_leave_the_older_habit():
    corpus = [measure(f"Item {i} is done.\n\nRegards,\nTheresa") for i in range(8)]
    two = [measure(f"Hi Bo,\nItem {i} is done.\n\nCheers,\nT") for i in range(2)]
    assert ProfileFacts.of(corpus, sent=two).latest("greeting") is None
    mixed = [*two, measure("Item 3 is done.\n\nRegards,\nTheresa")]
    facts = ProfileFacts.of(corpus, sent=mixed)
    assert facts.latest("greeting") is None and facts.latest("signed_name") is None
    assert facts.latest("valediction") is None
    assert expectations_for(facts).greeting == (None, "9 of 11 texts")


def test_the_length_band_spans_the_usual_word_counts():
    texts = [" ".join(["word"] * n) + "." for n in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)]
    band = _profile(texts).length_band()
    assert band is not None and (band.low, band.high) == (14, 114)  # 19-91, widened by 0.8/1.25 and 5 words
    assert band.holds(50) and band.holds(100) and not band.holds(300)
    assert _profile(texts[:3]).length_band() is None


def test_the_persons_last_sent_texts_set_the_length_band_once_there_are_enough():
    corpus = [measure(f"Item {i} is done.\n\nTheresa") for i in range(8)]  # 3-word notes
    longer = " ".join(["word"] * 40)
    sent = [measure(f"Hi Bo,\n\n{longer} {i}.\n\nCheers,\nT") for i in range(3)]
    assert not ProfileFacts.of(corpus, sent=sent[:2]).length_band().sent  # 2 sent texts are no habit yet
    facts = ProfileFacts.of(corpus, sent=sent)  # as many as agree on a greeting or closing
    band = facts.length_band(recipient="ann@x.com")
    assert band.sent and band.texts == 3 and band.holds(41) and not band.holds(3)
    expected = expectations_for(facts, "ann@x.com")
    assert "band" in expected.latest  # as new as an edit rule on length: the check stays
    assert facts.as_dict()["length"]["band"]["sent"] is True


def test_never_means_no_text_of_enough_shows_the_habit():
    calm = _profile([f"Item {i} is done." for i in range(6)])
    assert calm.never("exclamations") and calm.never("questions") is not False
    excited = _profile([f"Item {i} is done!" for i in range(6)])
    assert not excited.never("exclamations")


def test_the_summary_counts_forms_with_their_shares():
    texts = [THERESA] * 3 + ["Sam,\nDone.\n\nT"]
    summary = _profile(texts).as_dict()
    assert summary["texts"] == 4
    assert summary["greeting"]["forms"][0] == ["Hi NAME,", 3, 0.75]
    assert summary["closing"]["forms"][0] == ["Thanks,\nTheresa", 3, 0.75]
    assert summary["habits"]["questions"]["texts"] == 3
    assert summary["length"]["words"]["median"] == 10


# -- the store: measured once, incrementally -------------------------------------------------


def _add_document(store: Store, profile_id: int, text: str, split: str = "train", signoff: str | None = None) -> int:
    with store.transaction() as db:
        return db.execute(
            "INSERT INTO documents (profile_id, text, signoff, content_hash, split) VALUES (?, ?, ?, ?, ?)",
            (profile_id, text, signoff, str(hash((text, split))), split),
        ).lastrowid


def test_facts_are_stored_per_document_and_only_new_documents_are_measured(tmp_path):
    store = Store.open(tmp_path / "pa.sqlite3")
    profile = store.create_profile("theresa")
    for i in range(3):
        _add_document(store, profile.id, f"Hi Sam,\nPoint {i} is settled.", signoff="Thanks,\nTheresa")
    assert refresh_facts(store, profile).measured == 3
    assert refresh_facts(store, profile).measured == 0
    _add_document(store, profile.id, "Held out text here.", split="test")
    assert refresh_facts(store, profile).measured == 1
    train = document_facts(store, profile)
    assert len(train) == 3 and all(f.signed_name == "Theresa" for f in train.values())
    assert load_profile_facts(store, profile, split=None).count == 4


def test_pa_style_prints_the_facts_with_counts(capsys):
    from core.paths import resolve_paths

    store = Store.open(resolve_paths().store_file)
    profile = store.create_profile("theresa")
    for i in range(6):
        _add_document(store, profile.id, f"Hi Sam,\nPoint {i} is settled. Call me?\n\nThanks,\nTheresa")
    store.close()
    assert run(["style", "--profile", "theresa", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["texts"] == 6 and data["measured_by"] == "pa (code, no model)"
    assert data["greeting"]["usual"] == {"form": "Hi NAME,", "texts": 6, "of": 6}
    assert data["habits"]["questions"]["share"] == 1.0
    assert run(["style", "--profile", "theresa"]) == 0
    out = capsys.readouterr().out
    assert "'Hi NAME,'" in out and "100%" in out
    assert run(["style", "--profile", "nobody"]) == 2


def test_an_import_measures_the_facts_of_what_it_stored(pa):
    from pathlib import Path

    from core.paths import resolve_paths

    sample = Path(__file__).resolve().parent.parent / "examples" / "sample-corpus"
    assert pa("import", sample, "--profile", "sample").exit_code == 0
    store = Store.open(resolve_paths().store_file)
    profile = store.get_profile("sample")
    stored = store.query("SELECT COUNT(*) AS n FROM style_facts WHERE profile_id = ?", (profile.id,))[0]["n"]
    assert stored == sum(store.count_documents(profile.id).values()) > 0
    assert refresh_facts(store, profile).measured == 0  # nothing left for `pa style` to measure


def test_pa_style_shows_review_facts(capsys):
    from core.paths import resolve_paths

    store = Store.open(resolve_paths().store_file)
    profile = store.create_profile("critic", genre="review")
    with store.transaction() as db:
        for n in range(5):
            text = f"Solid kettle {n}\n\nBoils fast. 4/5, would recommend."
            db.execute(
                "INSERT INTO documents (profile_id, text, subject, content_hash, split) VALUES (?, ?, ?, ?, 'train')",
                (profile.id, text, f"Electric Kettle Model {n}", str(n)),
            )
    store.close()
    assert run(["style", "--profile", "critic", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (
        "greeting" not in data
        and data["genre_marks"]["rating_texts"] == 5
        and data["genre_marks"]["headline_texts"] == 5
    )
    assert data["titles"]["case"][0] == ["title", 5, 1.0]
    assert run(["style", "--profile", "critic"]) == 0
    out = capsys.readouterr().out
    assert "rating texts" in out and "title case" in out


def test_pa_style_shows_corpus_text_as_data(capsys):
    from core.paths import resolve_paths

    store = Store.open(resolve_paths().store_file)
    profile = store.create_profile("markup")
    for i in range(2):
        _add_document(
            store,
            profile.id,
            f"[bold]Hi[/] Sam,\nThe [red]numbers[/] are in {i}. \x1b]0;pwned\x07 the [red]numbers[/] are in.",
        )
    store.close()
    assert run(["style", "--profile", "markup"]) == 0  # markup in the texts does not break the table
    out = capsys.readouterr().out
    assert "'bold hi sam'" in out and "\x1b" not in out and "\x07" not in out
