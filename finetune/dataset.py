"""Training data for the three kinds of small model, built from the store.

Every kind reads the same input (intent + recipient + subject + previous context, rendered by
`core.agents.agent_messages`, which drafting uses too) and differs only in the target:

    agent        -> <thinking> + <rules> from the `rules` distillation (or rules only)
    no-baseline  -> <rules> from the `nobaseline_rules` distillation
    naive        -> the real text of the document

Fair comparisons (issue 13): the agent and the no-baseline agent are trained on the same
documents (those with both kinds of rules) and the same treatment of the thinking (kept, or
both `rules_only`); no kind holds training examples out for its own evaluation loss, so the
agent keeps every example the naive baseline keeps (eval loss comes from the test split when
its documents have targets; rules are distilled for the training split only).

`collect_examples` is light (no tokenizer) so the CLI can check the data before spawning the
training process; `encode_examples` tokenizes with M_S's own chat template and applies the
truncation policy: the previous context is cut from its start (the newest part stays); an
example still over `max_length` is dropped. Both counts are reported, never hidden.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.agents import agent_messages, format_rules_target, split_agent_output, template_version, validate_kind
from core.config import TrainConfig
from core.context_window import AGENT_PREVIOUS_CHARS, previous_window
from core.errors import PaError
from core.store import Store

TARGET_STAGE = {"agent": "rules", "no-baseline": "nobaseline_rules", "naive": None}
OTHER_RULES = {"agent": "nobaseline_rules", "no-baseline": "rules"}
"""The rule agents are compared with each other: each trains only where both have rules."""
TRIM_MARK = "[...] "


@dataclass(frozen=True)
class Example:
    document_id: int
    split: str
    """`train` or `test`, as the store assigned it (eval uses the test split)."""
    intent: str
    recipient: str | None
    subject: str | None
    previous: str | None
    target: str
    genre: str = "email"
    origin: str = "document"
    """`document` (document_id is a documents.id) or `edit` (document_id is an edit_rules.id:
    rules learned from a text the person sent after editing a draft, see finetune.update)."""

    @property
    def key(self) -> str:
        """`document:12` / `edit:3`: what an agent's manifest lists as trained on (`trained_on`)."""
        return f"{self.origin}:{self.document_id}"


@dataclass
class DatasetReport:
    kind: str
    documents: int = 0
    missing_intent: int = 0
    missing_target: int = 0
    train: int = 0
    eval: int = 0
    eval_source: str = "test split"
    """`test split`, or `none` when no test document has what this kind needs (nothing is held out of training)."""
    missing_pair: int = 0
    """Rule-agent documents left out because the other rule kind has no rules for them."""
    previous_trimmed: int = 0
    dropped_too_long: int = 0
    thinking_trimmed: int = 0
    """Targets whose thinking was cut (at a sentence) to fit the agent's answer budget."""
    rules_over_budget: int = 0
    """Targets whose rules alone are longer than the answer budget (kept; the thinking is left out)."""
    edits: int = 0
    """Examples learned from the person's edits (each repeated `train.edit_repeats` times in `train`)."""
    answer_tokens: int | None = None
    """The agent's answer budget (core.context_window.AgentBudget.answer) targets were fitted to."""
    max_length: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Dataset:
    kind: str
    train: list[Example]
    eval: list[Example]
    report: DatasetReport
    rules_only: bool = False

    @property
    def data_hash(self) -> str:
        """Of everything that shapes training: examples, prompt version, target form."""
        payload = {
            "kind": self.kind,
            "template": template_version(self.kind),
            "rules_only": self.rules_only,
            "train": [asdict(e) for e in self.train],
            "eval": [asdict(e) for e in self.eval],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, examples in (("train", self.train), ("eval", self.eval)):
            with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as out:
                for example in examples:
                    out.write(json.dumps(asdict(example), ensure_ascii=False) + "\n")
        meta = {"kind": self.kind, "rules_only": self.rules_only, "report": asdict(self.report)}
        (folder / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Dataset:
        meta = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        parts = {}
        for name in ("train", "eval"):
            lines = (folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            parts[name] = [Example(**json.loads(line)) for line in lines if line.strip()]
        return cls(meta["kind"], parts["train"], parts["eval"], DatasetReport(**meta["report"]), meta["rules_only"])


def collect_for_training(store: Store, profile: str, kind: str, train: TrainConfig) -> Dataset:
    """The examples a run with these training settings learns from (a full run and an update alike)."""
    return collect_examples(
        store,
        profile,
        kind,
        rules_only=train.rules_only,
        seed=train.seed,
        verified=train.verify_rules,
        edit_repeats=train.edit_repeats,
    )


def collect_examples(
    store: Store,
    profile: str,
    kind: str,
    *,
    rules_only: bool = False,
    seed: int = 0,
    verified: bool = True,
    edit_repeats: int = 1,
) -> Dataset:
    """All usable examples of a profile for `kind`, split train/eval; raises when there are none.

    `verified`: the agent kind learns the rules that held against the person's measured facts
    and similar texts, plus the facts that apply, marked as pa's (`core.style.rule_check`).
    The agent kind also learns the rules learned from the person's edits (`edit_examples`),
    after the documents, oldest to newest, each `edit_repeats` times (weighted as recent)."""
    validate_kind(kind)
    record = store.get_profile(profile)
    stage = TARGET_STAGE[kind]
    rows = store.training_rows(record.id, stage, OTHER_RULES.get(kind))
    report = DatasetReport(kind=kind, documents=len(rows))
    verify = _verified_rules(store, record) if kind == "agent" and verified else None
    by_split: dict[str, list[Example]] = {"train": [], "test": []}
    for row in rows:
        if not (row["intent"] or "").strip():
            report.missing_intent += 1
            continue
        if stage is None:
            target = row["text"].strip()
        elif (row["target"] or "").strip():
            if not (row["other_rules"] or "").strip():
                report.missing_pair += 1  # the other rule agent has no rules here: neither trains on it
                continue
            thinking = None if rules_only else row["thinking"]
            rules = row["target"]
            if verify is not None:
                rules = verify(row["id"], rules, row["recipients"], row["subject"], row["previous_context"])
            target = format_rules_target(rules, thinking)
        else:
            report.missing_target += 1
            continue
        by_split[row["split"]].append(
            Example(
                row["id"],
                row["split"],
                row["intent"].strip(),
                row["recipients"],
                row["subject"],
                row["previous_context"],
                target,
                record.genre,
            )
        )
    train, held_out = by_split["train"], by_split["test"]
    if kind == "agent":  # edits teach rules; the naive and no-baseline models learn other targets
        edits = edit_examples(store.edit_training_rows(record.id), record.genre, rules_only=rules_only)
        train = train + edits * edit_repeats
        report.edits = len(edits)
        if edits:
            report.notes.append(
                f"{len(edits)} examples learned from edits, each x{edit_repeats} after the documents (newest last); "
                "the no-baseline agent has none"
            )
    if not train:
        what = "intents" if stage is None else f"intents and {stage.replace('_', ' ')}"
        raise PaError(
            f"profile {profile!r} has no training documents with {what} yet; run `pa distill --profile {profile}` first"
        )
    if not held_out:
        report.eval_source = "none"
        report.notes.append(
            f"no test document has what {kind} needs (rules are distilled for the training split only): no evaluation "
            f"loss, and all {len(train)} training examples are used, as every kind uses them; `pa eval` judges the agent"
        )
    if report.missing_pair:
        report.notes.append(
            f"{report.missing_pair} documents with {stage.replace('_', ' ') if stage else 'targets'} but without "
            f"{OTHER_RULES[kind].replace('_', ' ')} were left out, so the agent and the no-baseline agent learn from the same documents"
        )
    report.train, report.eval = len(train), len(held_out)
    return Dataset(kind, train, held_out, report, rules_only)


def edit_examples(rows: list[dict[str, object]], genre: str, *, rules_only: bool = False) -> list[Example]:
    """Examples from `Store.edit_training_rows` rows (newest first), returned oldest first.

    A row holds the edit's `id` (the sent edit's), `intent`, `target` (the rules), `thinking`,
    `recipients`, `subject` and `previous_context`, as `Store.training_rows` names them. An
    edit's rules are learned as distilled, not checked against the measured style facts: an
    edit is the newest evidence of how the person writes, and may well contradict the older
    texts those facts come from.
    """
    examples = []
    for row in reversed(rows):
        intent = str(row.get("intent") or "").strip()
        rules = str(row.get("target") or "").strip()
        if not intent or not rules:
            continue
        thinking = None if rules_only else row.get("thinking")
        examples.append(
            Example(
                int(str(row["id"])),
                "train",
                intent,
                _text(row.get("recipients")),
                _text(row.get("subject")),
                _text(row.get("previous_context")),
                format_rules_target(rules, str(thinking) if thinking else None),
                genre,
                origin="edit",
            )
        )
    return examples


def _text(value: object) -> str | None:
    return str(value) if value else None


def _verified_rules(store: Store, profile):
    """The agent learns verified rules plus the facts that apply, marked as pa's (core.style.rule_check)."""
    from core.style.rule_check import training_rules

    return training_rules(store, profile)


# -- tokenization (needs the tokenizer: only in the training process) ------------------------


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    """-100 on prompt tokens: loss is taken on the target and the end-of-turn token only."""

    @property
    def length(self) -> int:
        return len(self.input_ids)


def render_prompt(tokenizer, kind: str, example: Example, previous: str | None) -> str:
    """The prompt as text (for reading it); training uses `prompt_ids`, which keeps data inert."""
    messages = _messages(kind, example, previous)
    chat = [{"role": m.role, "content": m.content} for m in messages]
    return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


def prompt_ids(tokenizer, kind: str, example: Example, previous: str | None) -> list[int]:
    """The prompt's token ids; special tokens come only from the chat template itself.

    The template is rendered with markers in place of the messages' text, and each message's
    text is tokenised as plain text (`text_ids`): an intent or a previous message holding
    `<|im_end|><|im_start|>system` trains the agent on those characters, never on control tokens.
    """
    from core.fencing import data_markers, split_rendered

    messages = _messages(kind, example, previous)
    contents = [m.content for m in messages]
    markers = data_markers(contents)
    chat = [{"role": m.role, "content": mark} for m, mark in zip(messages, markers)]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    ids: list[int] = []
    for segment in split_rendered(rendered, markers, contents):
        ids += (
            text_ids(tokenizer, segment.text)
            if segment.is_data
            else tokenizer(segment.text, add_special_tokens=False).input_ids
        )
    return ids


def text_ids(tokenizer, text: str) -> list[int]:
    """Token ids of untrusted text, with no special token parsed out of it."""
    return tokenizer(text, add_special_tokens=False, split_special_tokens=True).input_ids


def _messages(kind: str, example: Example, previous: str | None):
    return agent_messages(
        kind,
        example.intent,
        recipient=example.recipient,
        subject=example.subject,
        previous=previous,
        genre=example.genre,
    )


def end_of_turn_id(tokenizer) -> int:
    """The token that ends an assistant turn in the chat template (SmolLM2: <|im_end|>)."""
    token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id is not None:
        return token_id
    if tokenizer.eos_token_id is None:
        raise PaError("the base tokenizer has no end-of-turn or EOS token; use a chat (instruct) base model")
    return tokenizer.eos_token_id


def fit_answer(tokenizer, target: str, answer_tokens: int | None) -> tuple[str, bool]:
    """A rules target fitted to the agent's answer budget: its thinking cut at a sentence (or left out).

    The agent is asked for `answer_tokens` at inference; trained on longer answers it would be
    cut off before its `<rules>`. Returns the target and whether it was cut. The rules are
    never cut (a target whose rules alone overflow is dropped by the caller, counted).
    """
    if answer_tokens is None or len(text_ids(tokenizer, target)) < answer_tokens:
        return target, False
    thinking, rules = split_agent_output(target)
    if not thinking:
        return target, False
    sentences = re.split(r"(?<=[.!?])\s+", thinking)
    while sentences:
        sentences.pop()
        fitted = format_rules_target(rules, " ".join(sentences) or None)
        if len(text_ids(tokenizer, fitted)) < answer_tokens:
            return fitted, True
    return format_rules_target(rules), True


def encode_example(
    tokenizer, kind: str, example: Example, max_length: int, report: DatasetReport, answer_tokens: int | None = None
) -> Encoded | None:
    """Prompt and target ids with the truncation policy applied; None when dropped (counted).

    With `answer_tokens` (rule agents), the target is first fitted to that budget (`fit_answer`).
    """
    target = example.target
    if answer_tokens is not None and kind != "naive":
        target, cut = fit_answer(tokenizer, target, answer_tokens)
        report.thinking_trimmed += cut
        # Rules longer than the budget on their own are kept whole (the agent still starts its
        # <rules> at once, the thinking gone) and counted: raise train.max_length to fit them.
        report.rules_over_budget += len(text_ids(tokenizer, target)) >= answer_tokens
    target_ids = text_ids(tokenizer, target) + [end_of_turn_id(tokenizer)]
    previous = previous_window(example.previous, AGENT_PREVIOUS_CHARS)  # the window agent_messages applies
    prompt = prompt_ids(tokenizer, kind, example, previous)
    overflow = len(prompt) + len(target_ids) - max_length
    if overflow > 0 and previous:
        previous_ids = text_ids(tokenizer, previous)
        keep = len(previous_ids) - overflow - 8  # room for the trim mark
        previous = TRIM_MARK + tokenizer.decode(previous_ids[-keep:]) if keep > 16 else None
        prompt = prompt_ids(tokenizer, kind, example, previous)
        overflow = len(prompt) + len(target_ids) - max_length
        report.previous_trimmed += 1
    if overflow > 0:
        report.dropped_too_long += 1
        return None
    return Encoded(prompt + target_ids, [-100] * len(prompt) + target_ids)


def encode_examples(
    tokenizer,
    kind: str,
    examples: list[Example],
    max_length: int,
    report: DatasetReport,
    answer_tokens: int | None = None,
) -> list[Encoded]:
    report.max_length = max_length
    report.answer_tokens = answer_tokens
    encoded = (encode_example(tokenizer, kind, e, max_length, report, answer_tokens) for e in examples)
    return [e for e in encoded if e is not None]
