"""Tagged-answer parsing on the kinds of broken output real models write."""

from __future__ import annotations

import pytest

from core.tagged import (
    Parsed,
    Rejected,
    TextLength,
    bullets,
    claims_length,
    compared_text_reference,
    extract_tag,
    find_tag,
    parse_draft,
    parse_intent,
    parse_rules,
    states_length,
)

GOOD_RULES = """<thinking>
The draft is 48 words; the real email is 9 words. The draft opens with "Dear Ruth"; the person writes "Ruth,".
</thinking>
<rules>
- Keep the email to about 10 words in two short sentences.
- Open with the recipient's first name followed by a comma, on its own line.
- Sign off with "Thanks," and the first name on the next line.
</rules>"""


# -- find_tag / extract_tag --------------------------------------------------------------------


def test_well_formed_blocks():
    assert extract_tag(GOOD_RULES, "thinking").startswith("The draft is 48 words")
    assert bullets(extract_tag(GOOD_RULES, "rules"))[0] == "Keep the email to about 10 words in two short sentences."


def test_missing_tag_is_none():
    assert find_tag("Sure! Here are the rules: be brief.", "rules") is None
    assert find_tag("<rules></rules>", "rules") is None  # an empty block is no block


def test_unclosed_tag_runs_to_the_end():
    block = find_tag("<thinking>x</thinking>\n<rules>\n- Write two sentences.\n- Sign with T.", "rules")
    assert block is not None and not block.closed
    assert block.text == "- Write two sentences.\n- Sign with T."


def test_closing_tag_without_opening_starts_after_the_previous_block():
    raw = "<thinking>short vs long</thinking>\n- Write one sentence.\n- No greeting.\n</rules>"
    block = find_tag(raw, "rules")
    assert block is not None and not block.opened
    assert block.text == "- Write one sentence.\n- No greeting."


def test_reordered_blocks():
    raw = "<rules>\n- Write three sentences.\n</rules>\n<thinking>The person is terse.</thinking>"
    result = parse_rules(raw)
    assert isinstance(result, Parsed)
    assert result.thinking == "The person is terse."


def test_rules_nested_inside_thinking_are_found_and_cut_from_thinking():
    raw = "<thinking>Differences: tone.\n<rules>\n- Write two short sentences.\n</rules>\nDone.</thinking>"
    rules = find_tag(raw, "rules")
    thinking = extract_tag(raw, "thinking")
    assert rules is not None and rules.nested_in == "thinking" and rules.text == "- Write two short sentences."
    assert "Write two" not in thinking and "Differences: tone." in thinking and "Done." in thinking


def test_doubled_tags_are_flattened():
    assert extract_tag("<rules><rules>\n- Be brief.\n</rules></rules>", "rules") == "- Be brief."


def test_echoed_empty_or_example_block_loses_to_the_last_real_one():
    raw = (
        "I will write the rules inside <rules></rules> tags.\n"
        "<thinking>terse</thinking>\n<rules>\n- Keep it to 12 words.\n</rules>"
    )
    assert extract_tag(raw, "rules") == "- Keep it to 12 words."


def test_unclosed_mention_inside_thinking_loses_to_a_top_level_block():
    raw = "<thinking>then I write <rules> with the length\n</thinking>\n<rules>\n- Use 20 words.\n</rules>"
    assert extract_tag(raw, "rules") == "- Use 20 words."


def test_tag_spelling_variants_and_markdown_fences():
    raw = "```xml\n< Thinking >a</ thinking>\n<RULES>\n- One sentence only.\n</Rules >\n```"
    assert extract_tag(raw, "thinking") == "a"
    assert extract_tag(raw, "rules") == "- One sentence only."
    assert extract_tag("**<rules>**\n- Two lines.\n**</rules>**", "rules") == "- Two lines."


def test_html_escaped_tags():
    assert extract_tag("&lt;rules&gt;\n- Short: 5 words.\n&lt;/rules&gt;", "rules") == "- Short: 5 words."


def test_extra_text_around_blocks_is_ignored():
    raw = f"Sure, here is my analysis.\n\n{GOOD_RULES}\n\nLet me know if you need anything else!"
    result = parse_rules(raw)
    assert isinstance(result, Parsed) and "Let me know" not in result.content


def test_similar_tag_names_do_not_match():
    assert extract_tag("<intentions>- x</intentions>", "intent") is None


# -- intent --------------------------------------------------------------------------------


def test_intent_bullets_are_normalised():
    raw = "<scratchpad>asks for a call</scratchpad>\n<intent>\n* I can talk tomorrow\n2. Call me at 3pm\n• Bring the Q3 numbers\n</intent>"
    result = parse_intent(raw)
    assert result == Parsed("- I can talk tomorrow\n- Call me at 3pm\n- Bring the Q3 numbers", "asks for a call")


def test_intent_lines_without_bullet_markers_are_taken_as_points():
    result = parse_intent(
        "<intent>I want Ruth to call me if she has questions. I am out on Friday.\nI sent the estimate.</intent>"
    )
    assert isinstance(result, Parsed)
    assert (
        result.content
        == "- I want Ruth to call me if she has questions.\n- I am out on Friday.\n- I sent the estimate."
    )
    assert "no bullet markers" in result.notes[0]
    result = parse_intent("<intent>\n(first point)\n...\n</intent>")
    assert isinstance(result, Rejected) and "bullet" in result.reason


def test_intent_in_plain_prose_without_tags_is_taken_line_by_line_minus_chatter():
    result = parse_intent(
        "Sure! Here are the notes:\nHi Ruth,\nSubject: Q3\nI need the Q3 numbers by Friday.\nI will call Ruth.\nThanks,"
    )
    assert result == Parsed("- I need the Q3 numbers by Friday.\n- I will call Ruth.", None, result.notes)
    assert "no <intent> tags" in result.notes[0]


def test_intent_that_echoes_the_prompt_or_copies_the_text_is_rejected():
    echo = "<metadata>\nFrom: k.allen@enron.com\n</metadata>\n<email>\nJeff, resend the info.\n</email>"
    assert "repeats the prompt" in parse_intent(echo).reason
    source = "Jeff,\n\nCan you resend the info on the three properties you mailed and the one you faxed to me last week? I lost them."
    copied = parse_intent(source, source=source)
    assert isinstance(copied, Rejected) and "copies the text" in copied.reason
    noted = parse_intent("- I want Jeff to resend the info on the three properties\n- I lost them", source=source)
    assert isinstance(noted, Parsed)


def test_intent_refusal_is_rejected():
    assert "declines" in parse_intent("I'm sorry, but I cannot help with that request.").reason


def test_intent_with_an_essay_bullet_is_rejected():
    result = parse_intent("<intent>\n- " + "word " * 80 + "\n</intent>")
    assert isinstance(result, Rejected) and "80 words" in result.reason


def test_intent_cut_off_by_max_tokens_is_rejected_but_a_forgotten_close_is_not():
    raw = "<scratchpad>x</scratchpad>\n<intent>\n- I need the report\n- Send it by"
    assert isinstance(parse_intent(raw, "length"), Rejected)
    assert parse_intent(raw, "stop") == Parsed("- I need the report\n- Send it by", "x")


def test_model_obeying_an_injection_is_rejected():
    assert isinstance(parse_intent("X"), Rejected)
    assert parse_intent("") == Rejected("empty answer")


# -- draft ---------------------------------------------------------------------------------


def test_draft():
    assert parse_draft("Here you go:\n<draft>\nRuth,\nCall me.\nTheresa\n</draft>") == Parsed(
        "Ruth,\nCall me.\nTheresa", None
    )
    assert isinstance(parse_draft("<draft>\n---\n</draft>"), Rejected)


def test_a_draft_without_tags_is_the_whole_answer_minus_leading_chatter():
    result = parse_draft("Sure! Here is the email:\n\nRuth,\nCall me.\nTheresa")
    assert isinstance(result, Parsed) and result.content == "Ruth,\nCall me.\nTheresa"
    assert "no <draft> tags" in result.notes[0]
    assert parse_draft("<thinking>short</thinking>\nRuth, call me.") == Parsed("Ruth, call me.", "short", result.notes)
    # A draft whose closing tag alone is there is a tagged draft: no note.
    assert parse_draft("Ruth, call me.\n</draft>") == Parsed("Ruth, call me.", None)


@pytest.mark.parametrize(
    ("raw", "finish", "reason_part"),
    [
        ("", "stop", "empty answer"),
        ("<|im_start|>assistant\n", "stop", "no <draft> block"),
        ("(your email)", "stop", "no words of its own"),
        ("...", "stop", "no words of its own"),
        ("Ruth,\nI need the numbers by", "length", "cut off"),
        ("I'm sorry, I can't write that email.", "stop", "declines"),
        (
            "<metadata>\nTo: Jeff\n</metadata>\n<previous_message>\n(none)\n</previous_message>\nTask: write the email",
            "stop",
            "repeats the prompt",
        ),
        ("<metadata>\nTo: Jeff\nJeff, resend it.", "stop", "repeats the prompt"),  # an unclosed echo runs to the end
    ],
)
def test_untagged_drafts_still_rejected_when_empty_placeholder_cut_off_or_refused(raw, finish, reason_part):
    result = parse_draft(raw, finish)
    assert isinstance(result, Rejected) and reason_part in result.reason, result


# -- rules ---------------------------------------------------------------------------------


def test_good_rules():
    result = parse_rules(GOOD_RULES)
    assert isinstance(result, Parsed)
    assert result.content.count("\n- ") == 2 and result.content.startswith("- Keep the email")


@pytest.mark.parametrize(
    "rule",
    [
        "- Make it shorter than the draft, about 10 words.",
        "- Use the same sign-off as the original (12 words).",
        "- Keep the greeting used in the real email; 2 sentences.",
        "- Like the email above, write 3 sentences.",
        "- Write two sentences, unlike the zero-shot version.",
        "- Compared to the first email, use 20 words.",
        "- Mirror the tone of the actual text; 30 words.",
    ],
)
def test_rules_that_all_mention_the_compared_texts_are_rejected(rule: str):
    result = parse_rules(f"<thinking>diff</thinking><rules>\n{rule}\n</rules>")
    assert isinstance(result, Rejected) and "stand alone" in result.reason


def test_single_rules_that_mention_the_compared_texts_are_dropped_and_noted():
    raw = "<thinking>diff</thinking><rules>\n- Make it shorter than the draft.\n- Sign off with T.\n- Write 2 sentences.\n</rules>"
    result = parse_rules(raw)
    assert result == Parsed("- Sign off with T.\n- Write 2 sentences.", "diff", result.notes)
    assert "dropped 1 rule" in result.notes[0] and "the draft" in result.notes[0]
    assert compared_text_reference(result.content) is None


@pytest.mark.parametrize(
    ("rule", "compares"),
    [
        ("- Keep the original meaning of the notes intact, in 20 words.", False),
        ("- Quote the original subject line in the first sentence, in 20 words.", False),
        ("- Make it shorter than the original, about 20 words.", True),
        ("- Use the wording of the original email, in 20 words.", True),
    ],
)
def test_the_original_is_a_comparison_only_when_it_names_the_compared_text(rule: str, compares: bool):
    result = parse_rules(f"<thinking>d</thinking><rules>\n{rule}\n</rules>")
    assert isinstance(result, Rejected) == compares


def test_rules_without_a_length_are_rejected():
    result = parse_rules(
        "<thinking>diff</thinking><rules>\n- Open with the first name.\n- Sign off with Thanks.\n</rules>"
    )
    assert isinstance(result, Rejected) and "target length" in result.reason


def test_the_real_texts_length_is_counted():
    assert TextLength.of("Jeff,\n\nCan you resend the info?\n\nThanks,\nPhillip") == TextLength(
        words=8, paragraphs=3, sentences=1
    )
    assert TextLength(8, 3).rule() == "Length: about 8 words in 3 paragraphs."
    assert TextLength(47, 1, 3).rule() == "Length: about 45 words, 3 sentences, 1 paragraph."


def test_a_counted_length_rule_is_added_when_the_rules_give_none():
    length = TextLength(words=31, paragraphs=2, sentences=3)
    raw = "<thinking>diff</thinking><rules>\n- Open with the first name.\n- Be brief.\n</rules>"
    result = parse_rules(raw, length=length)
    assert (
        result.content
        == "- Open with the first name.\n- Be brief.\n- Length: about 30 words, 3 sentences, 2 paragraphs."
    )
    assert result.thinking == "diff"  # the thinking is the model's own; the addition is a note
    assert "pa counted the length" in result.notes[-1] and "31 words" in result.notes[-1]
    assert states_length(result.content)
    # Unbulleted rules get the added rule as a line of its own.
    assert parse_rules("<thinking>d</thinking><rules>\nOpen with Hi.\n</rules>", length=length).content.endswith(
        "\nLength: about 30 words, 3 sentences, 2 paragraphs."
    )


@pytest.mark.parametrize(
    "claim",
    [
        "Use 3 bullet points.",
        "Open with a one-line greeting.",
        "Write about 12 words in two sentences.",
        "Length: two short paragraphs.",
    ],
)
def test_the_length_is_always_the_one_pa_counted(claim: str):
    """A model's length claim never stands in for the measured length; structure rules stay beside it."""
    raw = f"<thinking>diff</thinking><rules>\n- Sign off with the first name.\n- {claim}\n</rules>"
    result = parse_rules(raw, length=TextLength.of("Ruth,\nThe estimate is attached. Call me with questions.\nTheresa"))
    rules = result.content.splitlines()
    assert rules[-1] == "- Length: about 10 words, 2 sentences, 1 paragraph."
    assert sum(1 for rule in rules if rule.startswith("- Length")) == 1
    assert ("- " + claim in rules) == (not claims_length(claim))
    assert "pa counted the length" in result.notes[-1]


def test_the_added_length_never_rescues_rules_that_only_mention_the_texts():
    raw = "<thinking>d</thinking><rules>\n- Shorter than the draft.\n</rules>"
    assert isinstance(parse_rules(raw, length=TextLength(10, 1)), Rejected)


@pytest.mark.parametrize(
    "text",
    [
        "about 40 words",
        "two short sentences",
        "3-4 sentences",
        "a one-liner",
        "Be brief",
        "under 50 words",
        "Keep it concise",
        "a single paragraph",
        "20 to 30 words",
    ],
)
def test_length_statements(text: str):
    assert states_length(f"- {text}.")


def test_no_length_statement():
    assert not states_length("- Open with Hi.\n- Use first names.")


def test_rules_without_thinking_are_rejected():
    result = parse_rules("<rules>\n- Write 2 sentences.\n</rules>")
    assert isinstance(result, Rejected) and "<thinking>" in result.reason
    assert isinstance(parse_rules("<rules>\n- Write 2 sentences.\n</rules>", require_thinking=False), Parsed)


def test_rules_with_only_symbols_are_rejected():
    assert isinstance(parse_rules("<thinking>a</thinking><rules>\n- ...\n- 1\n</rules>"), Rejected)


def test_unbulleted_rules_are_kept_line_by_line():
    result = parse_rules("<thinking>a</thinking><rules>\nWrite two sentences.\nSign as T.\n</rules>")
    assert result == Parsed("Write two sentences.\nSign as T.", "a")


def test_compared_text_reference_names_the_phrase():
    assert "the draft" in compared_text_reference("Shorter than the draft.")
    assert compared_text_reference("Write a draft of two lines.") is None


# Real-looking answers from small models, each with the reason the parser must give.
SMALL_MODEL_ANSWERS = [
    # Answers in prose and never uses tags.
    (parse_rules, "The person prefers short emails. They use first names.", "no <rules> block"),
    # Echoes the format skeleton of the instructions instead of answering.
    (
        parse_intent,
        "Format:\n<scratchpad>\n(your notes)\n</scratchpad>\n<intent>\n- (first point)\n- (second point)\n</intent>",
        "no bullet points",
    ),
    (parse_draft, "<draft>\n(your email)\n</draft>", "no words of its own"),
    # Writes the thinking and runs out of tokens before the rules.
    (parse_rules, "<thinking>\n1. Length: the draft has 40 words", "no <rules> block"),
    # Closes the wrong tags: the rules end up inside <thinking>, which is left empty.
    (parse_rules, "<thinking>diff</rules>\n<rules>- Two sentences.</thinking>", "no <thinking> block"),
    # Chat-template debris and a refusal.
    (parse_intent, "<|im_start|>assistant\nI'm sorry, I can't help with that.", "no <intent> block"),
    # Writes the email itself instead of the rules.
    (parse_rules, "<thinking>x</thinking>\n<rules>\nRuth,\nCall me.\nTheresa\n</rules>", "target length"),
]


@pytest.mark.parametrize(("parser", "raw", "reason_part"), SMALL_MODEL_ANSWERS)
def test_small_model_answers_are_rejected_with_a_reason(parser, raw: str, reason_part: str):
    result = parser(raw)
    assert isinstance(result, Rejected), result
    assert reason_part in result.reason


def test_rules_with_a_placeholder_line_keep_only_real_rules():
    result = parse_rules("<thinking>a</thinking><rules>\n- (rule)\n- Use 15 words.\n</rules>")
    assert result == Parsed("- Use 15 words.", "a")


def test_a_bullet_list_outside_any_tag_is_taken_when_the_tag_was_forgotten():
    raw = "<thinking>The person is terse.</thinking>\nHere are the rules:\n- Write two sentences.\n- Sign as T.\nHope this helps!"
    assert parse_rules(raw) == Parsed("- Write two sentences.\n- Sign as T.", "The person is terse.")
    raw = "<scratchpad>a call</scratchpad>\n- I sent the estimate\n- Call me"
    assert parse_intent(raw) == Parsed("- I sent the estimate\n- Call me", "a call")
    # Bullets inside another block are not the answer.
    assert isinstance(parse_rules("<thinking>\n- the draft is long\n</thinking>"), Rejected)
    # Cut off by max_tokens: the last bullet may be half a sentence.
    result = parse_intent("- I sent the estimate\n- Call me about", "length")
    assert isinstance(result, Rejected) and "cut off" in result.reason


def test_rules_cut_off_by_max_tokens_keep_their_finished_lines_and_say_so():
    raw = "<thinking>terse</thinking>\n<rules>\n- Write two sentences.\n- Sign with the first name.\n- Never use exclam"
    result = parse_rules(raw, "length")
    assert isinstance(result, Parsed)
    assert result.content == "- Write two sentences.\n- Sign with the first name."
    assert "cut off at max_tokens" in result.notes[0] and "2 finished rule(s)" in result.notes[0]
    # Nothing finished before the cut: nothing to keep.
    only_one = parse_rules("<thinking>terse</thinking>\n<rules>\n- Write two sent", "length")
    assert isinstance(only_one, Rejected) and "cut off" in only_one.reason
    # A bullet list with no <rules> tag at all is not trusted when cut off.
    untagged = parse_rules("<thinking>terse</thinking>\n- Write two sentences.\n- Sign", "length")
    assert isinstance(untagged, Rejected) and "cut off" in untagged.reason


def test_numbers_written_after_a_bullet_are_not_part_of_the_rule():
    raw = "<thinking>terse</thinking>\n<rules>\n- 1. Write two sentences.\n- 2) Sign with the first name.\n</rules>"
    assert parse_rules(raw).content == "- Write two sentences.\n- Sign with the first name."
    # A year is not a list number.
    assert bullets("- 2001 budget is due") == ["2001 budget is due"]


def test_prose_outside_the_tags_is_the_thinking_when_thinking_tags_are_missing():
    raw = "The person writes far less and signs with a first name only.\n- Sign with the first name.\n- Write two sentences."
    result = parse_rules(raw)
    assert result == Parsed(
        "- Sign with the first name.\n- Write two sentences.",
        "The person writes far less and signs with a first name only.",
        result.notes,
    )
    assert "no <thinking> tags" in result.notes[0]
    # Chatter is no thinking.
    assert isinstance(parse_rules("Sure! Here are the rules:\n<rules>\n- Write two sentences.\n</rules>"), Rejected)


def test_an_untagged_answer_that_is_only_assistant_chatter_is_no_draft():
    for chatter in ("I'm ready to help. What can I do for you?", "Sure!\nHow can I help you today?"):
        assert isinstance(parse_draft(chatter), Rejected), chatter
    # An echoed task line, however decorated, is chatter too.
    assert (
        parse_draft("<<Task: write the email that says what the notes say>>\nJonas,\nsend the oak.").content
        == "Jonas,\nsend the oak."
    )
    # An email that starts with "Ok," is kept whole.
    assert parse_draft("Ok, I will send the numbers.").content == "Ok, I will send the numbers."


def test_copies_of_the_prompts_fenced_blocks_are_left_out_of_a_draft():
    raw = (
        "<metadata>\nTo: Jeff\n</metadata>\n<previous_message>\n(none)\n</previous_message>\nJeff, resend it.\nPhillip"
    )
    result = parse_draft(raw)
    assert isinstance(result, Parsed) and result.content == "Jeff, resend it.\nPhillip"
    assert "copies of the prompt's fenced blocks" in result.notes[-1]


def test_a_draft_wrapped_in_the_models_own_email_tags_is_the_draft():
    result = parse_draft(
        "<metadata>\nTo: Jeff\n</metadata>\n<email>\nJeff,\nresend the info.\n</email>\nHope this helps"
    )
    assert result.content == "Jeff,\nresend the info." and "wrapped in its own tags" in result.notes[0]


def test_an_intent_after_a_copy_of_the_email_is_the_text_outside_the_copy():
    raw = (
        "<metadata>\nFrom: k\n</metadata>\n<email>\n- Jeff, resend the info.\n</email>\nI want Jeff to resend the info."
    )
    result = parse_intent(raw)
    assert result.content == "- I want Jeff to resend the info." and "copies of the prompt" in result.notes[-1]
    assert isinstance(parse_intent("<metadata>\nFrom: k\n</metadata>\n<email>\nJeff, resend.\n</email>"), Rejected)
