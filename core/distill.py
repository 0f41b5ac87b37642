"""Distillation: for each of a person's texts, M_L writes an intent, a zero-shot draft and rules.

The method of "Unsupervised Human Preference Learning" (Shashidhar et al., EMNLP 2024):

1. intent  - the content as short first-person bullets, style removed. One candidate per
             temperature in `[distill].intent_temperatures`; one is kept at random, seeded by
             `[distill].seed` and the document id, so a re-run keeps the same one.
2. draft   - M_L writes the text from the intent and metadata alone (no preference information),
             through the drafting code path (`core.drafting.zero_shot_messages`, the prompt form
             for this backend, validated by `core.tagged.parse_written`): the very text the large
             baseline and the naive draft are, so the rules are what turns *this* model's default
             into the person's text.
3. rules   - M_L compares its draft with the real text, lists the differences in <thinking>,
             and writes standalone rules (stating the target length) in <rules>.
   nobaseline_rules - the paper's no-baseline variant: rules from intent + real text, no draft.

Intents are made for every document (evaluation needs them for the held-out split); drafts
and rules only for the training split, which is all they are used for.

Resumable to the single model call: every answer is committed to `distill_calls` the moment
it arrives, and each finished stage to `distillations`. A re-run skips finished stages and
re-reads journalled answers instead of asking again, so a run killed at any point (Ctrl-C,
kill -9) never pays for an answer twice. Stages that failed are left alone unless
`retry_failed` is set; then they get a fresh round of `max_attempts` tries.

A malformed answer (see `core.tagged`) is retried with the reason shown to the model, up to
`[distill].max_attempts` times, and then recorded as failed with that reason, never as good.
A `BackendError` (server down, model missing) stops the whole run: it is not the document's
fault, and a re-run continues where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

from core.config import Config
from core.context_window import distill_max_tokens, previous_window, step_max_tokens
from core.distill_calls import CURRENT_CALL, CallKey
from core.errors import BackendError, UsageError
from core.events import Progress, ProgressCallback, ignore_progress
from core.llm.base import Backend, GenerationOptions, Message, Usage
from core.locks import writes_profile
from core.prompts import Template, fence, load_template
from core.store import Document, Profile, Store
from core.tagged import Parsed, ParseResult, Rejected, TextLength, parse_intent, parse_rules, parse_written

STAGES = ("intent", "draft", "rules", "nobaseline_rules")
STAGE_CHOICES: dict[str, tuple[str, ...]] = {
    "intents": ("intent",),
    "drafts": ("draft",),
    "rules": ("rules", "nobaseline_rules"),
    "all": STAGES,
}
"""What `pa distill --stage` accepts, and the stages each choice runs."""
STAGE_LABELS = {"intent": "intents", "draft": "drafts", "rules": "rules", "nobaseline_rules": "no-baseline rules"}
"""The `Progress.stage` name of each stage."""
STAGE_SPLITS = {"intent": ("train", "test"), "draft": ("train",), "rules": ("train",), "nobaseline_rules": ("train",)}
REQUIRES = {"intent": (), "draft": ("intent",), "rules": ("intent", "draft"), "nobaseline_rules": ("intent",)}
DOCUMENT_TAGS = {"email": "email", "post": "post", "review": "review"}
"""The fence each genre's real text goes in (the templates name the same tag)."""
TITLE_LABELS = {"email": "Subject", "post": "Title", "review": "Item"}
RETRY_ANSWER_CHARS = 2000
"""How much of a rejected answer is shown back to the model on a retry."""


def stage_parser(
    stage: str, document: Document, messages: list[Message] | None = None, template: Template | None = None
) -> Callable[[str, str | None], ParseResult]:
    """The validator of one stage's answers for one document.

    Intents are checked against the real text (an echo of it is no intent); the draft is
    validated as every drafted text is (`core.drafting.prompt_echo`: an echo of its prompt is no
    draft); rules get the real text's counted length, added as a rule when the model's rules
    give no counted length.
    """
    if stage == "intent":
        return partial(parse_intent, source=document.text)
    if stage == "draft":
        from core.drafting import prompt_echo

        return partial(parse_written, echo=prompt_echo(messages or [], template))
    if stage in ("rules", "nobaseline_rules"):
        return partial(parse_rules, length=TextLength.of(document.text))
    raise ValueError(f"unknown stage {stage!r}")


@dataclass
class StageStats:
    total: int = 0
    """Documents (within the limit) this stage applies to."""
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    """Already finished (ok or failed) before this run, left as they were."""
    blocked: int = 0
    """Not run because an earlier stage is missing or failed."""
    calls: int = 0
    """Model calls made in this run."""
    replayed: int = 0
    """Answers re-read from the journal of an interrupted run instead of asked again."""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.skipped + self.blocked

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Failure:
    document_id: int
    stage: str
    reason: str


@dataclass
class DistillSummary:
    profile: str
    model: str
    documents: int
    stages: dict[str, StageStats]
    failures: list[Failure] = field(default_factory=list)
    """Stages that failed in this run, with the reason recorded."""
    seconds: float = 0.0
    cost: float | None = None
    """Estimated USD for this run's calls, when the backend has a price configured."""

    @property
    def calls(self) -> int:
        return sum(stats.calls for stats in self.stages.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "model": self.model,
            "documents": self.documents,
            "seconds": round(self.seconds, 3),
            "calls": self.calls,
            "cost": self.cost,
            "stages": {name: {**asdict(stats), "done": stats.done} for name, stats in self.stages.items()},
            "failures": [asdict(failure) for failure in self.failures],
        }


def template_id(genre: str, stage: str, form: str = "tagged") -> str:
    """The prompt of a stage: `email.intent`…; the draft stage uses drafting's zero-shot prompt (in `form`)."""
    if genre not in DOCUMENT_TAGS:
        raise UsageError(f"genre {genre!r} has no distillation prompts; use one of {', '.join(DOCUMENT_TAGS)}")
    if stage == "draft":
        return "drafting.zero_shot_plain" if form == "plain" else "drafting.zero_shot"
    return f"{genre}.{stage}"


def metadata_block(document: Document, genre: str) -> str:
    """From, to, title/subject and date of a document, fenced (it comes from the corpus)."""
    lines = []
    for label, value in (
        ("From", document.sender),
        ("To", document.recipients),
        (TITLE_LABELS[genre], document.subject),
        ("Date", document.date),
    ):
        if value and value.strip():
            lines.append(f"{label}: {' '.join(value.split())}")
    return fence("\n".join(lines) or "(none given)", "metadata")


def previous_block(document: Document) -> str:
    """The message replied to, in the one window every prompt uses (`core.context_window`)."""
    return fence(previous_window(document.previous_context) or "(none: this is not a reply)", "previous_message")


def draft_request(document: Document, intent: str | None) -> Any:
    """What the drafting path is asked for a document: its intent, recipients, subject and previous message."""
    from core.drafting import DraftRequest

    return DraftRequest(
        (intent or "").strip(),
        recipient=document.recipients,
        subject=document.subject,
        previous=document.previous_context,
    )


def stage_messages(
    stage: str,
    document: Document,
    genre: str,
    *,
    intent: str | None = None,
    draft: str | None = None,
    form: str = "tagged",
) -> tuple[Template, list[Message]]:
    """The template and rendered messages of one stage for one document.

    The draft stage's messages are the drafting path's zero-shot prompt (`form`: the backend's
    prompt form), the same the large baseline and the naive draft send for this request.
    """
    template = load_template(template_id(genre, stage, form))
    if stage == "draft":
        from core.drafting import zero_shot_messages

        return template, zero_shot_messages(draft_request(document, intent), genre, form)  # type: ignore[arg-type]
    values = {
        "metadata": metadata_block(document, genre),
        "document": fence(document.text.strip(), DOCUMENT_TAGS[genre]),
        "previous": previous_block(document),
        "intent": fence((intent or "").strip(), "intent"),
        "draft": fence((draft or "").strip(), "draft"),
    }
    return template, template.render(**{name: values[name] for name in template.fields})


def first_part(document: Document, limit: int) -> tuple[Document, str]:
    """The document cut to its first `limit` characters, at the last paragraph (else line, else word)
    break inside them, and the note saying what was done."""
    text = document.text
    head = text[:limit]
    for separator in ("\n\n", "\n", " "):
        cut = head.rfind(separator)
        if cut > limit // 2:
            head = head[:cut]
            break
    head = head.rstrip()
    note = (
        f"the document has {len(text)} characters, over distill.max_document_chars={limit}: pa showed the model "
        f"its first {len(head)} characters (cut at a break) and counted the length from the whole text"
    )
    return replace(document, text=head), note


def call_seed(base: int, document_id: int, stage: str, slot: int, attempt: int) -> int:
    """A stable per-call seed, so a deterministic backend repeats itself exactly."""
    return zlib.crc32(f"{base}:{document_id}:{stage}:{slot}:{attempt}".encode()) & 0x7FFFFFFF


def choose_candidate(seed: int, document_id: int, count: int, usable: Iterable[int]) -> int | None:
    """Which intent candidate to keep: a seeded pick, moved to a usable one when it failed."""
    usable = sorted(usable)
    if not usable:
        return None
    rng = random.Random(f"{seed}:{document_id}")
    first = rng.randrange(count)
    return first if first in usable else rng.choice(usable)


@dataclass
class _Answer:
    """One stage slot's outcome: the parsed result plus what it cost."""

    result: ParseResult
    raw: str
    attempts: int
    """The number of the last attempt made (it continues across retry rounds)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    gave_up: bool = False
    """Refused, and not asked again: another candidate was usable (`_CandidateRounds`)."""


class _CandidateRounds:
    """The intent candidates of one text, asked in rounds: each refused candidate is asked again
    only when the round ended with none usable. The kept one is `choose_candidate`'s (the seeded
    pick when usable, else a seeded choice among the usable), so asking a refused one again
    while another is usable buys an intent that is seldom kept, for a whole call each."""

    def __init__(self, count: int):
        self.active = count
        """Candidates still being asked."""
        self.waiting = 0
        """Refused in this round, waiting for the others' answers."""
        self.round = 0
        self.usable = False
        self.changed = asyncio.Condition()

    async def done(self) -> bool:
        """Asked for a refused candidate: True (give up) once any candidate is usable."""
        async with self.changed:
            this_round = self.round
            self.waiting += 1
            self._end_round_if_all_wait()
            await self.changed.wait_for(lambda: self.usable or self.round != this_round)
            return self.round == this_round  # a round that ended with none usable: all ask again

    async def leave(self, usable: bool) -> None:
        """A candidate's last answer: usable, or refused with no attempt left (or given up)."""
        async with self.changed:
            self.active -= 1
            self.usable = self.usable or usable
            self._end_round_if_all_wait()
            self.changed.notify_all()

    def _end_round_if_all_wait(self) -> None:
        if self.active and self.waiting == self.active and not self.usable:
            self.round += 1
            self.waiting = 0
            self.changed.notify_all()


@dataclass
class _Row:
    status: str
    content: str | None
    attempts: int
    candidates: str | None


class _Run:
    """One `distill_profile` call: the store, backend, settings and live counters."""

    calls_table = "distill_calls"
    steps_table = "distill_steps"
    key_column = "document_id"
    """Where answers are journalled and what keys them: learning from edits (`core.edit_learning`)
    runs the same stage code with its own journal, keyed by the sent edit."""
    stage_labels: Mapping[str, str] = STAGE_LABELS
    """What progress calls each stage (learning from edits names its one stage its own way)."""

    def __init__(
        self,
        store: Store,
        profile: Profile,
        large: Backend,
        config: Config,
        stages: tuple[str, ...],
        concurrency: int,
        retry_failed: bool,
        on_progress: ProgressCallback,
    ):
        self.store = store
        self.profile = profile
        self.large = large
        self.config = config
        self.settings = config.distill
        self.drafting = config.drafting
        """The draft stage is drafting's zero-shot call: its options are the naive draft's (temperature, max_tokens)."""
        from core.drafting import prompt_form

        self.form = prompt_form(large)
        self.stages = stages
        self.retry_failed = retry_failed
        self.on_progress = on_progress
        self.calls_gate = asyncio.Semaphore(concurrency)
        self.stats = {stage: StageStats() for stage in stages}
        self.failures: list[Failure] = []
        self.rows: dict[tuple[int, str], _Row] = {}
        self.journal: dict[tuple[int, str, int], dict[int, Any]] = {}
        self.steps: dict[tuple[int, str, int, int, int], Any] = {}
        """Finished steps of guided answers not yet whole: (document, stage, slot, attempt, step) -> row."""
        self.cost: float | None = None
        self.price = _price_of(large)
        self.closing: set[asyncio.Future[None]] = set()
        self.cut_notes: dict[int, str] = {}
        """Documents longer than distill.max_document_chars: what pa showed the model instead of the whole."""
        self.cut_steps: dict[tuple[int, str, int, int], str] = {}
        """Guided answers whose thinking was cut at its share of the budget: call -> what was cut."""

    # -- loading ----------------------------------------------------------------------------

    def load(self, documents: list[Document]) -> None:
        for row in self.store.query(
            "SELECT s.document_id, s.stage, s.status, s.content, s.attempts, s.candidates FROM distillations s "
            "JOIN documents d ON d.id = s.document_id WHERE d.profile_id = ?",
            (self.profile.id,),
        ):
            self.rows[(row["document_id"], row["stage"])] = _Row(
                row["status"], row["content"], row["attempts"], row["candidates"]
            )
        for row in self.store.query(
            "SELECT c.* FROM distill_calls c JOIN documents d ON d.id = c.document_id "
            "WHERE d.profile_id = ? AND c.model = ?",
            (self.profile.id, self.large.spec),
        ):
            self.journal.setdefault((row["document_id"], row["stage"], row["slot"]), {})[row["attempt"]] = row
        for row in self.store.query(
            "SELECT s.* FROM distill_steps s JOIN documents d ON d.id = s.document_id WHERE d.profile_id = ? AND s.model = ?",
            (self.profile.id, self.large.spec),
        ):
            self.steps[(row["document_id"], row["stage"], row["slot"], row["attempt"], row["step"])] = row
        for document in documents:
            for stage in self.stages:
                if document.split not in STAGE_SPLITS[stage]:
                    continue
                stats = self.stats[stage]
                stats.total += 1
                known = self.rows.get((document.id, stage))
                if known and (known.status == "ok" or not self.retry_failed):
                    stats.skipped += 1

    # -- progress ---------------------------------------------------------------------------

    def report(self, stage: str, message: str = "") -> None:
        stats = self.stats[stage]
        self.on_progress(
            Progress(
                stage=self.stage_labels[stage],
                done=stats.done,
                total=stats.total,
                tokens=stats.tokens,
                errors=stats.failed,
                message=message,
                cost=self.cost,
            )
        )

    # -- one document -----------------------------------------------------------------------

    async def document(self, document: Document) -> None:
        intent = await self.stage(document, "intent")

        async def draft_then_rules() -> None:
            draft = await self.stage(document, "draft", intent=intent)
            await self.stage(document, "rules", intent=intent, draft=draft)

        await _all([draft_then_rules(), self.stage(document, "nobaseline_rules", intent=intent)])

    async def stage(self, document: Document, stage: str, **inputs: str | None) -> str | None:
        """Run (or skip) one stage for one document; the stage's content when it is ok."""
        row = self.rows.get((document.id, stage))
        selected = stage in self.stages and document.split in STAGE_SPLITS[stage]
        if row is not None and (row.status == "ok" or not (selected and self.retry_failed)):
            return row.content if row.status == "ok" else None
        if not selected:
            return None
        if any(not inputs.get(needed) for needed in REQUIRES[stage]):
            self.stats[stage].blocked += 1
            self.report(stage, f"document {document.id}: waiting for an earlier stage")
            return None
        full_text = document.text
        if len(document.text) > self.settings.max_document_chars:
            # A long text is not failed (that would leave only short texts to learn from and to
            # evaluate on): the model is shown its first part, cut at a paragraph, and the note says so.
            document, self.cut_notes[document.id] = first_part(document, self.settings.max_document_chars)
        if not document.text.strip():
            self.finish(document, stage, _Answer(Rejected("the document is empty"), "", 0), None, row)
            return None
        template, messages = stage_messages(
            stage, document, self.profile.genre, intent=inputs.get("intent"), draft=inputs.get("draft"), form=self.form
        )
        if stage == "intent":
            return await self.intent(document, template, messages, row)
        answer = await self.ask(document, stage, 0, template, messages, None, _round_start(row, 0), length_of=full_text)
        self.finish(document, stage, answer, template, row)
        return answer.result.content if isinstance(answer.result, Parsed) else None

    async def intent(
        self, document: Document, template: Template, messages: list[Message], row: _Row | None
    ) -> str | None:
        temperatures = self.settings.intent_temperatures
        rounds = _CandidateRounds(len(temperatures))

        async def candidate(slot: int, temperature: float) -> _Answer:
            usable = False
            try:
                answer = await self.ask(
                    document, "intent", slot, template, messages, temperature, _round_start(row, slot), rounds.done
                )
                usable = isinstance(answer.result, Parsed)
                return answer
            finally:
                await rounds.leave(usable)

        answers = await _all([candidate(slot, temperature) for slot, temperature in enumerate(temperatures)])
        candidates = [
            {
                "temperature": temperature,
                "status": "ok" if isinstance(answer.result, Parsed) else "failed",
                "content": answer.result.content if isinstance(answer.result, Parsed) else None,
                "scratchpad": answer.result.thinking if isinstance(answer.result, Parsed) else None,
                "error": (
                    answer.result.reason + ("; not asked again: another candidate was usable" if answer.gave_up else "")
                    if isinstance(answer.result, Rejected)
                    else None
                ),
                "attempts": answer.attempts,
            }
            for temperature, answer in zip(temperatures, answers)
        ]
        usable = [slot for slot, answer in enumerate(answers) if isinstance(answer.result, Parsed)]
        chosen = choose_candidate(self.settings.seed, document.id, len(temperatures), usable)
        if chosen is None:
            reasons = "; ".join(f"t={t}: {c['error']}" for t, c in zip(temperatures, candidates))
            combined = _Answer(Rejected(f"no usable intent candidate ({reasons})"), answers[-1].raw, 0)
        else:
            combined = answers[chosen]
            candidates[chosen]["chosen"] = True
        combined = _Answer(
            combined.result,
            combined.raw,
            max(answer.attempts for answer in answers),
            sum(answer.prompt_tokens for answer in answers),
            sum(answer.completion_tokens for answer in answers),
        )
        self.finish(document, "intent", combined, template, row, candidates=json.dumps(candidates, ensure_ascii=False))
        return combined.result.content if isinstance(combined.result, Parsed) else None

    async def ask(
        self,
        document: Document,
        stage: str,
        slot: int,
        template: Template,
        messages: list[Message],
        temperature: float | None,
        first_attempt: int,
        give_up: Callable[[], Awaitable[bool]] | None = None,
        length_of: str | None = None,
    ) -> _Answer:
        """Up to max_attempts answers for one slot, re-read from the journal where it has them.

        `give_up`: asked before each retry after a refused answer (journalled or not, so a resumed
        run stops where the first one did); True ends the slot there (`_CandidateRounds`).
        `length_of`: the whole real text, when the model was shown only its first part (rules
        still state the whole text's counted length).
        """
        parse = stage_parser(stage, replace(document, text=length_of) if length_of else document, messages, template)
        journal = self.journal.get((document.id, stage, slot), {})
        stats = self.stats[stage]
        conversation = list(messages)
        prompt_tokens = completion_tokens = 0
        result: ParseResult = Rejected("no attempt was made")
        raw = ""
        made, gave_up = first_attempt, False
        for attempt in range(first_attempt, first_attempt + self.settings.max_attempts):
            if attempt > first_attempt and give_up is not None and await give_up():
                gave_up = True
                break
            logged = journal.get(attempt)
            made = attempt
            CURRENT_CALL.set(CallKey(document.id, stage, slot, attempt, template.id, template.version, temperature))
            if logged is not None and (logged["template_id"], logged["template_version"]) == (
                template.id,
                template.version,
            ):
                raw, finish = logged["raw"], logged["finish_reason"]
                result = parse(raw, finish)
                prompt_tokens += logged["prompt_tokens"]
                completion_tokens += logged["completion_tokens"]
                stats.replayed += 1
            else:
                options = GenerationOptions(
                    temperature=self.drafting.temperature if stage == "draft" else temperature,
                    max_tokens=self.drafting.max_tokens
                    if stage == "draft"
                    else distill_max_tokens(self.config, stage, document.text),
                    seed=call_seed(self.settings.seed, document.id, stage, slot, attempt),
                )
                raw, finish, usage = await self.answer(
                    conversation, options, template, (document.id, stage, slot, attempt)
                )
                # No await between the answer arriving and its commit: a cancel cannot lose it.
                result = parse(raw, finish)
                cut = self.cut_steps.pop((document.id, stage, slot, attempt), None)
                if cut and isinstance(result, Parsed):
                    result = replace(result, notes=(*result.notes, cut))
                self.journal_answer(document, stage, slot, attempt, raw, finish, usage, template, temperature, result)
                prompt_tokens += usage.prompt_tokens
                completion_tokens += usage.completion_tokens
            if isinstance(result, Parsed):
                break
            conversation = [
                *messages,
                Message("assistant", raw[:RETRY_ANSWER_CHARS] or "(empty)"),
                Message(
                    "user",
                    f"That answer cannot be used: {result.reason}. Do the task again from the start, in exactly the format asked for.",
                ),
            ]
        return _Answer(result, raw, made, prompt_tokens, completion_tokens, gave_up)

    async def answer(
        self,
        messages: list[Message],
        options: GenerationOptions,
        template: Template,
        call_key: tuple[int, str, int, int],
    ) -> tuple[str, str | None, Usage]:
        """One whole answer: asked for in one call, or written step by step along the template's guide.

        The guide is followed only where the backend continues an answer pa starts. pa writes each
        step's opening text and closes it with the step's stop; the model writes the rest. A step
        the model ends early (its end-of-turn), or an early step cut off at max_tokens (a long
        scratchpad), is closed all the same; a cut-off last step or a cancel ends the answer
        there, unclosed, so the parser sees it was cut off. Each step that ends is journalled
        at once (`distill_steps`), and re-read instead of asked again after a crash.
        """
        if not (self.settings.guided and template.guide and getattr(self.large, "continues_answer", False)):
            async with self.calls_gate:
                return await self.call(messages, options)
        written = ""
        finish: str | None = None
        usages: list[Usage] = []
        for index, step in enumerate(template.guide):
            written += step.start
            last = step is template.guide[-1]
            step_options = replace(options, stop=(*options.stop, step.stop))
            if options.max_tokens is not None:  # the whole answer within the budget, the last step with room
                used = sum(usage.completion_tokens for usage in usages)
                step_options = replace(step_options, max_tokens=step_max_tokens(options.max_tokens, used, last))
            saved = self.steps.get((*call_key, index))
            if saved is not None and (saved["template_id"], saved["template_version"]) == (
                template.id,
                template.version,
            ):
                text, finish = saved["text"], saved["finish_reason"]
                usage = Usage(saved["prompt_tokens"], saved["completion_tokens"], saved["seconds"] or 0.0)
            else:
                async with self.calls_gate:
                    text, finish, usage = await self.call([*messages, Message("assistant", written)], step_options)
                # No await between the step's end and its commit: a crash after it never asks again.
                self.journal_step(call_key, index, text, finish, usage, template)
            written += text
            usages.append(usage)
            if finish == "cancelled" or (last and finish != "stop"):
                break
            if finish == "length":
                self.cut_steps[call_key] = (
                    f"the {step.stop.strip('</>') or 'first part'} was cut at {step_options.max_tokens} tokens, its share of "
                    f"the answer's {options.max_tokens} (distill.max_tokens, from the agent's answer budget unless set)"
                )
            written += step.stop
        return (
            written,
            finish,
            Usage(
                prompt_tokens=sum(usage.prompt_tokens for usage in usages),
                completion_tokens=sum(usage.completion_tokens for usage in usages),
                seconds=sum(usage.seconds for usage in usages),
                first_token_seconds=usages[0].first_token_seconds,
                estimated=any(usage.estimated for usage in usages),
            ),
        )

    async def call(self, messages: list[Message], options: GenerationOptions) -> tuple[str, str | None, Usage]:
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        stream = self.large.stream(messages, options)
        try:
            async for chunk in stream:
                parts.append(chunk.text)
                if chunk.usage is not None:
                    usage, finish = chunk.usage, chunk.finish_reason
                    break
        finally:
            if usage is None:
                await _close(stream)
        if usage is None:
            raise BackendError(
                f"{self.large.spec}: the answer stream ended without its final chunk; check the model server"
            )
        # Closing may await (an HTTP response); it runs aside so the answer is committed first.
        closing = asyncio.ensure_future(_close(stream))
        self.closing.add(closing)
        closing.add_done_callback(self.closing.discard)
        return "".join(parts), finish, usage

    # -- writing ----------------------------------------------------------------------------

    def journal_step(
        self,
        call_key: tuple[int, str, int, int],
        index: int,
        text: str,
        finish: str | None,
        usage: Usage,
        template: Template,
    ) -> None:
        """Commit one finished step of a guided answer (a cancelled one is not finished)."""
        if finish == "cancelled":
            return
        with self.store.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO {self.steps_table} ({self.key_column}, stage, slot, attempt, step, text, finish_reason, model, "
                "template_id, template_version, prompt_tokens, completion_tokens, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *call_key,
                    index,
                    text,
                    finish,
                    self.large.spec,
                    template.id,
                    template.version,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.seconds,
                ),
            )

    def journal_answer(
        self,
        document: Document,
        stage: str,
        slot: int,
        attempt: int,
        raw: str,
        finish: str | None,
        usage: Usage,
        template: Template,
        temperature: float | None,
        result: ParseResult,
    ) -> None:
        stats = self.stats[stage]
        stats.calls += 1
        stats.prompt_tokens += usage.prompt_tokens
        stats.completion_tokens += usage.completion_tokens
        if self.price is not None:
            self.cost = (self.cost or 0.0) + self.price.cost(usage)
        with self.store.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO {self.calls_table} ({self.key_column}, stage, slot, attempt, raw, finish_reason, verdict, model, "
                "template_id, template_version, temperature, prompt_tokens, completion_tokens, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    document.id,
                    stage,
                    slot,
                    attempt,
                    raw,
                    finish,
                    result.reason if isinstance(result, Rejected) else None,
                    self.large.spec,
                    template.id,
                    template.version,
                    temperature,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.seconds,
                ),
            )
            # The whole answer is in: its steps' journal is no longer needed.
            db.execute(
                f"DELETE FROM {self.steps_table} WHERE {self.key_column} = ? AND stage = ? AND slot = ? AND attempt = ?",
                (document.id, stage, slot, attempt),
            )
        self.report(stage)

    def finish(
        self,
        document: Document,
        stage: str,
        answer: _Answer,
        template: Template | None,
        previous: _Row | None,
        *,
        candidates: str | None = None,
    ) -> None:
        """Commit a stage's result: ok with its content, or failed with the reason."""
        result = answer.result
        if isinstance(result, Parsed) and document.id in self.cut_notes:
            result = replace(result, notes=(*result.notes, self.cut_notes[document.id]))
        ok = isinstance(result, Parsed)
        parsed = result if isinstance(result, Parsed) else None
        reason = result.reason if isinstance(result, Rejected) else None
        template = template or load_template(template_id(self.profile.genre, stage, self.form))
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO distillations (document_id, stage, status, content, thinking, candidates, raw, error, "
                "template_id, template_version, model, attempts, prompt_tokens, completion_tokens, notes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (document_id, stage) DO UPDATE SET status = excluded.status, content = excluded.content, "
                "thinking = excluded.thinking, candidates = excluded.candidates, raw = excluded.raw, error = excluded.error, "
                "template_id = excluded.template_id, template_version = excluded.template_version, model = excluded.model, "
                "attempts = excluded.attempts, prompt_tokens = excluded.prompt_tokens, "
                "completion_tokens = excluded.completion_tokens, notes = excluded.notes, created_at = datetime('now')",
                (
                    document.id,
                    stage,
                    "ok" if ok else "failed",
                    parsed.content if parsed else None,
                    parsed.thinking if parsed else None,
                    candidates,
                    answer.raw or None,
                    reason,
                    template.id,
                    template.version,
                    self.large.spec,
                    answer.attempts,
                    answer.prompt_tokens,
                    answer.completion_tokens,
                    "\n".join(parsed.notes) if parsed and parsed.notes else None,
                ),
            )
        self.rows[(document.id, stage)] = _Row(
            "ok" if ok else "failed", parsed.content if parsed else None, answer.attempts, candidates
        )
        stats = self.stats[stage]
        if ok:
            stats.ok += 1
            self.report(stage)
        else:
            stats.failed += 1
            self.failures.append(Failure(document.id, stage, str(reason)))
            self.report(stage, f"document {document.id}: {reason}")


def _round_start(row: _Row | None, slot: int) -> int:
    """First attempt number of this round: 1, or after the last attempt of a failed row being retried."""
    if row is None or row.status == "ok":
        return 1
    if row.candidates:
        try:
            candidates = json.loads(row.candidates)
            return int(candidates[slot]["attempts"]) + 1
        except (ValueError, KeyError, IndexError, TypeError):
            pass
    return row.attempts + 1


def _price_of(backend: Backend) -> Any:
    from core.llm.specs import price_of

    return price_of(backend)


async def _close(stream: Any) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


async def _all(awaitables: list[Awaitable[Any]]) -> list[Any]:
    """Like gather, but the first error cancels the others (and Ctrl-C cancels them all)."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@writes_profile("pa distill", lambda args: args["profile"].name)
async def distill_profile(
    store: Store,
    profile: Profile,
    large: Backend,
    config: Config,
    *,
    stages: Iterable[str] = STAGES,
    limit: int | None = None,
    concurrency: int | None = None,
    retry_failed: bool = False,
    on_progress: ProgressCallback = ignore_progress,
) -> DistillSummary:
    """Distil the profile's documents (the first `limit` by id) with `large` as M_L.

    Every result is committed as it arrives; calling again continues where a previous call
    stopped. `concurrency` bounds the model calls in flight (default `[distill].concurrency`).
    """
    chosen = tuple(stage for stage in STAGES if stage in set(stages))
    unknown = set(stages) - set(STAGES)
    if unknown or not chosen:
        raise UsageError(f"unknown distillation stage(s) {sorted(unknown) or '(none)'}; use {', '.join(STAGES)}")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    concurrency = concurrency if concurrency is not None else config.distill.concurrency
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {concurrency}")
    template_id(profile.genre, "intent")  # an unknown genre fails before any work
    documents = store.documents(profile.id, limit=limit)
    if not documents:
        raise UsageError(
            f"profile {profile.name!r} has no documents; import some with `pa import PATH --profile {profile.name}`"
        )
    started = time.perf_counter()
    run = _Run(store, profile, large, config, chosen, concurrency, retry_failed, on_progress)
    run.load(documents)
    for stage in chosen:
        run.report(stage)
    # A window of documents in flight keeps the pipeline full without starting them all at once,
    # so an interrupted run leaves whole documents finished rather than every intent half done.
    window = asyncio.Semaphore(max(2, 2 * concurrency))

    async def one(document: Document) -> None:
        async with window:
            await run.document(document)

    try:
        await _all([one(document) for document in documents])
    finally:
        if run.closing:
            await asyncio.gather(*run.closing, return_exceptions=True)
    return DistillSummary(
        profile=profile.name,
        model=large.spec,
        documents=len(documents),
        stages=run.stats,
        failures=run.failures,
        seconds=time.perf_counter() - started,
        cost=run.cost,
    )


# -- reading back --------------------------------------------------------------------------


@dataclass(frozen=True)
class StageResult:
    stage: str
    status: str
    content: str | None
    thinking: str | None
    error: str | None
    candidates: list[dict[str, Any]] | None
    template_id: str
    template_version: int
    model: str
    attempts: int
    notes: str | None = None
    """What pa changed in the model's answer before accepting it (e.g. an added length rule)."""


@dataclass(frozen=True)
class DocumentDistillation:
    document: Document
    stages: dict[str, StageResult]


def read_distillations(store: Store, profile: Profile, document_id: int | None = None) -> list[DocumentDistillation]:
    """Each document of the profile with its stage results (what `pa rules show` prints)."""
    if document_id is not None:
        document = store.get_document(document_id)
        if document.profile_id != profile.id:
            raise UsageError(
                f"document {document_id} belongs to another profile; list {profile.name!r}'s with `pa rules show --profile {profile.name}`"
            )
        documents = [document]
    else:
        documents = store.documents(profile.id)
    by_document: dict[int, dict[str, StageResult]] = {document.id: {} for document in documents}
    for row in store.query(
        "SELECT s.* FROM distillations s JOIN documents d ON d.id = s.document_id WHERE d.profile_id = ?",
        (profile.id,),
    ):
        if row["document_id"] in by_document:
            by_document[row["document_id"]][row["stage"]] = StageResult(
                stage=row["stage"],
                status=row["status"],
                content=row["content"],
                thinking=row["thinking"],
                error=row["error"],
                candidates=json.loads(row["candidates"]) if row["candidates"] else None,
                template_id=row["template_id"],
                template_version=row["template_version"],
                model=row["model"],
                attempts=row["attempts"],
                notes=row["notes"],
            )
    return [DocumentDistillation(document, by_document[document.id]) for document in documents]
