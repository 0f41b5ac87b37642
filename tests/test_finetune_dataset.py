"""Datasets from the store: one input form, three targets, split from the store, truncation reported."""

from __future__ import annotations

import pytest

from core.agents import agent_messages, format_rules_target, split_agent_output
from core.errors import PaError
from core.paths import resolve_paths
from core.store import Store
from finetune.dataset import Dataset, DatasetReport, collect_examples, encode_example
from tests.tiny_agent import EXAMPLES, RULES, THINKING, seed_store


@pytest.fixture
def store(pa_home):
    with Store.open(resolve_paths().store_file) as opened:
        seed_store(opened)
        yield opened


def test_each_kind_gets_its_target_from_the_store(store):
    agent = collect_examples(store, "tiny", "agent", verified=False)  # verified rules: tests/test_style_rules.py
    assert (agent.report.train, agent.report.eval, agent.report.eval_source) == (6, 2, "test split")
    assert agent.train[0].target == format_rules_target(RULES, THINKING)
    assert split_agent_output(agent.train[0].target) == (THINKING, RULES)
    assert {e.split for e in agent.eval} == {"test"}

    rules_only = collect_examples(store, "tiny", "agent", rules_only=True, verified=False)
    assert rules_only.train[0].target == f"<rules>\n{RULES}\n</rules>"
    assert rules_only.data_hash != agent.data_hash

    naive = collect_examples(store, "tiny", "naive")
    assert [e.target for e in naive.train] == [e[6] for e in EXAMPLES if e[-1] == "train"]
    assert naive.train[0].intent == agent.train[0].intent  # same input, different target

    no_baseline = collect_examples(store, "tiny", "no-baseline")
    assert no_baseline.train[0].target == f"<rules>\n{RULES}\n</rules>"


def test_missing_and_failed_distillations_are_counted_not_used(store):
    with store.transaction() as db:
        db.execute("UPDATE distillations SET status = 'failed' WHERE stage = 'rules' AND document_id = 1")
        db.execute("DELETE FROM distillations WHERE stage = 'intent' AND document_id = 2")
    dataset = collect_examples(store, "tiny", "agent")
    assert (dataset.report.missing_target, dataset.report.missing_intent, dataset.report.train) == (1, 1, 4)
    assert {e.document_id for e in dataset.train}.isdisjoint({1, 2})


def test_no_test_documents_means_no_eval_loss_and_no_example_held_out(store):
    """The agent keeps every training example the naive baseline keeps (issue 13, item 6)."""
    with store.transaction() as db:
        db.execute("UPDATE documents SET split = 'train'")
    dataset = collect_examples(store, "tiny", "agent", seed=3)
    assert dataset.report.eval_source == "none" and dataset.report.eval == 0 and dataset.eval == []
    assert dataset.report.train == 8 == collect_examples(store, "tiny", "naive").report.train
    assert "all 8 training examples are used" in dataset.report.notes[0]


def test_the_two_rule_agents_learn_from_the_same_documents_with_the_same_thinking(store):
    with store.transaction() as db:
        db.execute("UPDATE distillations SET status = 'failed' WHERE stage = 'nobaseline_rules' AND document_id = 3")
        db.execute("UPDATE distillations SET thinking = 'No greeting, one line.' WHERE stage = 'nobaseline_rules'")
    agent = collect_examples(store, "tiny", "agent")
    no_baseline = collect_examples(store, "tiny", "no-baseline")
    assert [e.document_id for e in agent.train] == [e.document_id for e in no_baseline.train]
    assert 3 not in {e.document_id for e in agent.train} and agent.report.missing_pair == 1
    assert any("same documents" in note for note in agent.report.notes)
    assert split_agent_output(no_baseline.train[0].target) == (
        "No greeting, one line.",
        RULES,
    )  # thinking kept, as the agent's
    assert split_agent_output(collect_examples(store, "tiny", "no-baseline", rules_only=True).train[0].target) == (
        None,
        RULES,
    )


def test_no_usable_documents_names_the_distill_command(pa_home):
    with Store.open(resolve_paths().store_file) as store:
        store.create_profile("fresh")
        with pytest.raises(PaError, match=r"run `pa distill --profile fresh` first"):
            collect_examples(store, "fresh", "agent")


def test_dataset_round_trips_through_the_run_folder(store, tmp_path):
    dataset = collect_examples(store, "tiny", "agent")
    dataset.save(tmp_path / "data")
    loaded = Dataset.load(tmp_path / "data")
    assert loaded.train == dataset.train and loaded.eval == dataset.eval
    assert loaded.data_hash == dataset.data_hash


def test_encoding_masks_the_prompt_and_ends_with_im_end(store, smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    example = collect_examples(store, "tiny", "agent").train[1]
    encoded = encode_example(tokenizer, "agent", example, 1024, DatasetReport("agent"))
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert encoded.input_ids[-1] == im_end and encoded.labels[-1] == im_end
    target = [t for t in encoded.labels if t != -100]
    assert tokenizer.decode(target[:-1]) == example.target
    prompt = tokenizer.decode(encoded.input_ids[: len(encoded.input_ids) - len(target)])
    chat = [
        {"role": m.role, "content": m.content}
        for m in agent_messages(
            "agent", example.intent, recipient=example.recipient, subject=example.subject, previous=example.previous
        )
    ]
    assert prompt == tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n") and "Paul: draft is nearly done." in prompt


def test_truncation_cuts_previous_context_first_then_drops(store, smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    example = collect_examples(store, "tiny", "agent").train[1]
    long_previous = " ".join(f"word{i}" for i in range(400)) + " THE NEWEST LINE"
    example = type(example)(**{**example.__dict__, "previous": long_previous})
    report = DatasetReport("agent")
    trimmed = encode_example(tokenizer, "agent", example, 300, report)
    assert trimmed is not None and trimmed.length <= 300
    text = tokenizer.decode(trimmed.input_ids)
    assert "THE NEWEST LINE" in text and "word0 " not in text and "[...]" in text
    assert report.previous_trimmed == 1 and report.dropped_too_long == 0
    assert encode_example(tokenizer, "agent", example, 60, report) is None
    assert report.dropped_too_long == 1
