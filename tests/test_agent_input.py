"""One input form and one budget for the preference agent (issue 13, items 3 and 4).

Training examples and every drafting view ask the agent through `core.agents.agent_messages`,
which cuts the message replied to by one window; the agent's answer budget, the training
targets and drafting's rules tokens all come from `train.max_length`, so an agent is never
cut off before its `<rules>`, and what was cut is reported.
"""

from __future__ import annotations

from core.agents import format_rules_target, split_agent_output
from core.config import Config, parse_config
from core.context_window import AGENT_PREVIOUS_CHARS, AgentBudget
from core.drafting import DraftRequest, agent_request_messages
from finetune.dataset import DatasetReport, Example, encode_example, render_prompt

LONG_PREVIOUS = " ".join(f"word{i}" for i in range(4000)) + " THE NEWEST LINE"
RULES = "- Open with the first name.\n- Length: about 20 words, 2 sentences, 1 paragraph."
THINKING = " ".join(f"The person does thing number {i} differently from the draft." for i in range(30))


def test_the_agent_sees_the_same_window_of_a_long_previous_message_at_training_and_when_asked(smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    asked = agent_request_messages(DraftRequest("- send the numbers", previous=LONG_PREVIOUS))[-1].content
    assert len(asked) < AGENT_PREVIOUS_CHARS + 300, "the agent must not be sent a 20,000-character reply"
    assert "THE NEWEST LINE" in asked and "word0 " not in asked and "[...]" in asked
    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    example = Example(1, "train", "- send the numbers", None, None, LONG_PREVIOUS, format_rules_target(RULES), "email")
    trained = render_prompt(tokenizer, "agent", example, example.previous)
    assert asked in trained  # the very same user turn


def test_every_agent_budget_comes_from_train_max_length():
    budget = AgentBudget.of(Config())
    assert (budget.total, budget.prompt, budget.answer) == (1024, 640, 384)
    bigger = AgentBudget.of(parse_config("[train]\nmax_length = 2048\n"))
    assert bigger.answer == 768 and bigger.prompt + bigger.answer == 2048


def test_drafting_asks_the_agent_for_its_trained_answer_budget(pa_home):
    from core.drafting import DraftContext
    from core.paths import resolve_paths
    from core.store import Store

    paths = resolve_paths()
    store = Store.open(paths.store_file)
    profile = store.create_profile("p")
    context = DraftContext(paths, parse_config("[train]\nmax_length = 512\n"), store, profile)
    assert context.rules_options.max_tokens == AgentBudget(512).answer == 192


def test_a_long_thinking_is_cut_to_the_answer_budget_and_reported_never_the_rules(smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    example = Example(
        1, "train", "- send the numbers", "bo@x.com", "numbers", None, format_rules_target(RULES, THINKING), "email"
    )
    report = DatasetReport("agent")
    encoded = encode_example(tokenizer, "agent", example, 1024, report, answer_tokens=120)
    assert (
        encoded is not None
        and report.thinking_trimmed == 1
        and report.dropped_too_long == report.rules_over_budget == 0
    )
    target = tokenizer.decode([t for t in encoded.labels if t != -100][:-1])
    assert len(tokenizer(target, add_special_tokens=False).input_ids) < 120
    thinking, rules = split_agent_output(target)
    assert rules == RULES and target.rstrip().endswith("</rules>")
    assert thinking and THINKING.startswith(thinking)


def test_the_agent_prompt_reads_right_for_every_genre():
    from core.agents import agent_messages

    email, post, review = (agent_messages("agent", "- say hi", genre=g)[0].content for g in ("email", "post", "review"))
    assert "greeting" in email and "sign-off" in email
    for text, genre in ((post, "post"), (review, "review")):
        assert f"an {genre}" not in text and "greeting" not in text and "sign-off" not in text
        assert f"(a {genre})" in text
    # The e-mail prompt is v1's word for word: agents trained on it keep answering the same way.
    assert (
        "Given what a person wants to write (an email), write the rules their own writing follows for it: "
        "tone, length, greeting, sign-off, structure, phrasing." in email
    )
