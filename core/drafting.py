"""Drafting: the naive draft, the agent's rules and the final text, and the paper's baselines.

Everything here is an async generator of `DraftEvent`s, so the CLI (rich) and the TUI (Textual
workers) render the same streams. Backends are parameters; nothing here prints or opens HTTP
connections itself.

The preference-agent pipeline (`draft()`):

    naive  = M_L(intent)                      ─┐ run at the same time
    rules  = agent(intent + details)          ─┤
    final  = M_L(intent + details + rules)    ─┘ starts the moment the rules are complete

Events of the three streams interleave; each stream says `started`, then `delta`s, then `done`
(with its whole text, usage and timings). Cancelling the task that consumes the generator (or
closing it) cancels every stream, and the embedded backend stops within one token. Edited
rules regenerate only the final: call `stream_final()` with them.

Baselines of the paper's Table 2 (`METHODS`, `stream_method()`), each alone and streaming:
small (M_S zero-shot), large (M_L zero-shot, the naive draft), few-shot (M_L with k of the
person's own intent/text pairs), naive-finetune (M_S fine-tuned on intent -> text) and
no-baseline (an agent trained on rules distilled without a zero-shot draft). A method whose
model is not trained raises NotTrainedError naming the command that trains it.

Prompt safety: intent, details and rules are fenced (`core.prompts.fence`), and the rules
enter M_L's prompt in one marked place (`<preference_rules>` in `drafting.final`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.agents import agent_messages
from core.context_window import previous_window
from core.errors import BackendError, NotTrainedError
from core.llm.base import Backend, GenerationOptions, Message, Usage
from core.prompts import Template, fence, load_template
from core.tagged import Parsed, PromptEcho, parse_written

if TYPE_CHECKING:
    from core.agents import AgentInfo
    from core.config import Config
    from core.edit_rules import EditRuleCandidate, EditRuleIndex, EditRuleUse
    from core.paths import Paths
    from core.retrieval import Example, Retriever
    from core.store import Profile, Store
    from core.style.final_check import FinalChecker, FinalReport
    from core.style.profile_facts import ProfileFacts

StreamName = Literal["naive", "rules", "final"]
EventKind = Literal["started", "delta", "done"]
PromptForm = Literal["tagged", "plain"]


# -- requests and events ---------------------------------------------------------------------


@dataclass(frozen=True)
class DraftRequest:
    """What the user wants to say, and about what; everything but the intent is optional."""

    intent: str
    recipient: str | None = None
    subject: str | None = None
    previous: str | None = None
    """The message being replied to, if any."""


@dataclass(frozen=True)
class DraftEvent:
    """One step of one stream.

    `stream` is "naive", "rules" or "final"; in `stream_method()`, "final" is the method's
    answer whatever the method, and "rules" the intermediate rules of two-stage methods.
    `method` names the method the stream belongs to ("agent", "large", "few-shot", ...).
    """

    stream: StreamName
    kind: EventKind
    text: str = ""
    """A `delta`'s new text; on `done` the stream's whole text (for rules: the parsed rules)."""
    at: float = 0.0
    """Seconds since the drafting call began (one clock for all streams of a call)."""
    method: str = "agent"
    model: str | None = None
    """The backend spec (on `started` and `done`)."""
    usage: Usage | None = None
    """Tokens and seconds (on `done`)."""
    finish_reason: str | None = None
    """stop | length (on `done`)."""
    raw: str | None = None
    """On rules `done`: the agent's whole answer, thinking included."""
    thinking: str | None = None
    """On rules `done`: the agent's <thinking> part, if it wrote one."""
    notes: tuple[str, ...] = ()
    """On a written text's `done`: what pa cut from the model's answer (echoed prompt), and retries.
    A second `started` on the same stream means pa asked again (the first answer was only an echo)."""
    checks: FinalReport | None = None
    """On final `done` of a checked final: pa's checks against the person's style facts."""
    edit_rules: tuple[EditRuleUse, ...] = ()
    """On rules `done`: the rules learned from the person's edits that pa merged into the agent's
    rules for the final (`core.edit_rules`); the event's text stays the agent's own rules."""


class DraftRejected(BackendError):
    """A model's written answer had no text of its own (it only repeated the prompt), even when asked again."""


class Clock:
    """One time origin shared by every stream of a drafting call."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class StreamRecord:
    """What a transcript knows about one stream."""

    method: str = ""
    model: str | None = None
    parts: list[str] = field(default_factory=list)
    text: str | None = None
    """Set on `done`: the whole text (rules: parsed)."""
    raw: str | None = None
    thinking: str | None = None
    notes: tuple[str, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    started_at: float | None = None
    first_token_at: float | None = None
    done_at: float | None = None
    checks: FinalReport | None = None
    edit_rules: tuple[EditRuleUse, ...] = ()

    @property
    def live_text(self) -> str:
        """Text so far (the raw deltas), for display while the stream runs."""
        return "".join(self.parts)

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def timings(self) -> dict[str, float | int | None]:
        return {
            "started": _round(self.started_at),
            "first_token": _round(self.first_token_at),
            "done": _round(self.done_at),
            "prompt_tokens": self.usage.prompt_tokens if self.usage else None,
            "completion_tokens": self.usage.completion_tokens if self.usage else None,
        }


class DraftTranscript:
    """Folds events into per-stream records: what the CLI prints and the history stores."""

    def __init__(self) -> None:
        self.streams: dict[str, StreamRecord] = {}
        self.events: list[DraftEvent] = []

    def apply(self, event: DraftEvent) -> StreamRecord:
        self.events.append(event)
        record = self.streams.setdefault(event.stream, StreamRecord(method=event.method))
        if event.kind == "started":
            if record.started_at is None:
                record.started_at = event.at
            record.parts.clear()  # a retry, or a checked final regenerated, starts the stream's text again
            record.model = event.model
        elif event.kind == "delta":
            if record.first_token_at is None:
                record.first_token_at = event.at
            record.parts.append(event.text)
        else:
            record.done_at = event.at
            record.text = event.text
            record.raw = event.raw
            record.thinking = event.thinking
            record.notes = event.notes
            record.usage = event.usage
            record.finish_reason = event.finish_reason
            record.model = event.model or record.model
            record.checks = event.checks
            record.edit_rules = event.edit_rules
        return record

    def text(self, stream: str) -> str | None:
        record = self.streams.get(stream)
        return record.text if record else None

    def timings(self) -> dict[str, dict[str, float | int | None]]:
        return {name: record.timings() for name, record in self.streams.items()}

    @property
    def edit_rules(self) -> tuple[EditRuleUse, ...]:
        """The rules from the person's edits merged into the agent's for this draft's final."""
        record = self.streams.get("rules")
        return record.edit_rules if record else ()

    def final_rules(self) -> str | None:
        """The rules the final was written from: the agent's, with the edit rules merged in."""
        rules = self.text("rules")
        if rules is None or not self.edit_rules:
            return rules
        from core.edit_rules import merged_rules

        return merged_rules(rules, self.edit_rules)

    def models(self) -> dict[str, str | None]:
        return {name: record.model for name, record in self.streams.items()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# -- prompts ---------------------------------------------------------------------------------


EXAMPLE_MAX_CHARS = 1500
"""A few-shot example's text is cut to this many characters, so k long emails still fit a small context."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " [...]"


SMALL_MODEL_BYTES = 1_000_000_000
"""A local GGUF under this size (SmolLM2-135M/360M, ~1B models) gets the plain prompt form."""


def prompt_form(backend: Backend) -> PromptForm:
    """Which prompt form a backend writes from: "plain" for small models, "tagged" otherwise.

    Small models copy a prompt's tag blocks back as their answer ("<details>(none given)
    </details>") but write a plain short email when asked plainly. A backend may declare
    `prompt_form`; else a local GGUF under `SMALL_MODEL_BYTES` is small, and any server is not.
    """
    declared = getattr(backend, "prompt_form", None)
    if declared in ("plain", "tagged"):
        return "plain" if declared == "plain" else "tagged"
    path = getattr(backend, "model_path", None)
    if path is not None:
        try:
            return "plain" if Path(path).stat().st_size < SMALL_MODEL_BYTES else "tagged"
        except OSError:
            return "tagged"
    return "tagged"


def _template(name: str, form: PromptForm) -> Template:
    return load_template(f"drafting.{name}_plain" if form == "plain" else f"drafting.{name}")


def zero_shot_messages(request: DraftRequest, genre: str = "email", form: PromptForm = "tagged") -> list[Message]:
    """M_L or M_S alone: the naive draft, the small/large baselines and distillation's zero-shot draft."""
    return _template("zero_shot", form).render(
        genre=genre, details=_details(request, form), intent=_intent(request.intent, form)
    )


def final_messages(
    request: DraftRequest, rules: str, genre: str = "email", form: PromptForm = "tagged"
) -> list[Message]:
    """M_L following the agent's rules; the rules go into the one marked rules place of the template."""
    if not rules.strip():
        raise BackendError("the rules are empty; write at least one rule or draft again")
    block = plain_rules(rules) if form == "plain" else fence(rules.strip(), "preference_rules")
    return _template("final", form).render(
        genre=genre, details=_details(request, form), intent=_intent(request.intent, form), rules=block
    )


def few_shot_messages(
    request: DraftRequest, examples: list[Example], genre: str = "email", form: PromptForm = "tagged"
) -> list[Message]:
    """M_L with the person's own (intent, text) pairs, most similar first."""
    if form == "plain":
        blocks = [
            f"Example {number}. What they wanted to say: {_one_line(example.intent)}\nWhat they wrote:\n{_cut(example.text.strip(), EXAMPLE_MAX_CHARS)}"
            for number, example in enumerate(examples, 1)
        ]
        examples_text = "\n\n".join(blocks)
    else:
        examples_text = "\n".join(
            fence(
                f"What they wanted to say:\n{example.intent.strip()}\n\nWhat they wrote:\n{_cut(example.text.strip(), EXAMPLE_MAX_CHARS)}",
                "example",
            )
            for example in examples
        )
    return _template("few_shot", form).render(
        genre=genre, details=_details(request, form), intent=_intent(request.intent, form), examples=examples_text
    )


def agent_request_messages(request: DraftRequest, kind: str = "agent", genre: str = "email") -> list[Message]:
    """The agent's input: exactly what `finetune/dataset.py` trains it on (`core.agents.agent_messages`)."""
    return agent_messages(
        kind,
        request.intent,
        recipient=request.recipient,
        subject=request.subject,
        previous=request.previous,
        genre=genre,
    )


def details_block(recipient: str | None = None, subject: str | None = None, previous: str | None = None) -> str:
    """The piece's metadata (recipient, subject, message replied to), fenced as one data block."""
    lines = []
    if recipient and recipient.strip():
        lines.append(f"To: {recipient.strip()}")
    if subject and subject.strip():
        lines.append(f"Subject: {subject.strip()}")
    if text := previous_window(previous):
        lines.append(f"In reply to:\n{text}")
    return fence("\n".join(lines) or "(none given)", "details")


def plain_details(recipient: str | None = None, subject: str | None = None, previous: str | None = None) -> str:
    """The same metadata said in sentences (the plain form); empty when there is none."""
    lines = []
    if recipient and recipient.strip():
        lines.append(f"It is to {' '.join(recipient.split())}.")
    if subject and subject.strip():
        lines.append(f"Subject: {' '.join(subject.split())}")
    if text := previous_window(previous):
        lines.append(f"It answers this message:\n{text}\n(end of the message answered)")
    return "\n".join(lines) + "\n\n" if lines else ""


def plain_rules(rules: str) -> str:
    """The rules as a plain list, one per line starting with '- '."""
    lines = [line.strip() for line in rules.strip().splitlines() if line.strip()]
    return "\n".join(line if line.startswith(("-", "*", "•")) else f"- {line}" for line in lines)


def _one_line(text: str) -> str:
    return "; ".join(line.strip().lstrip("-*• ").strip() for line in text.strip().splitlines() if line.strip())


def _intent(intent: str, form: PromptForm) -> str:
    if form == "plain":
        return _one_line(intent)
    return intent_block(intent)


def intent_block(intent: str) -> str:
    return fence(intent.strip(), "intent")


def _details(request: DraftRequest, form: PromptForm = "tagged") -> str:
    if form == "plain":
        return plain_details(request.recipient, request.subject, request.previous)
    return details_block(request.recipient, request.subject, request.previous)


RULE_STOPS = ("</rules>",)
"""A rule agent is done when it closes its rules (`core.agents.format_rules_target`)."""
_AGENT_TAG = re.compile(r"</?(?:thinking|rules)>")


def read_agent_answer(raw: str) -> tuple[str | None, str]:
    """(thinking, rules) from a rule agent's answer, in the form `format_rules_target` trains.

    Tolerant where small agents slip: the closing </rules> is a stop sequence so it is usually
    missing; an unclosed <thinking> ends where <rules> begins; stray copies of the tags are
    dropped. An answer with thinking but no rules part has no rules ("", never the thinking).
    """
    start = raw.find("<rules>")
    if start != -1:
        head, body = raw[:start], raw[start + len("<rules>") :]
        end = body.find("</rules>")
        body = body if end == -1 else body[:end]
    elif "</thinking>" in raw:
        head, body = raw.split("</thinking>", 1)
    elif "<thinking>" in raw:
        head, body = raw, ""
    else:
        head, body = "", raw
    thinking = _AGENT_TAG.sub("", head).strip() or None
    return thinking, _AGENT_TAG.sub("", body).strip()


# -- single streams --------------------------------------------------------------------------


async def stream_text(
    backend: Backend,
    messages: list[Message],
    *,
    stream: StreamName,
    method: str,
    options: GenerationOptions = GenerationOptions(),
    clock: Clock | None = None,
) -> AsyncIterator[DraftEvent]:
    """Any one model call as events: started, deltas, done (whole text, usage)."""
    clock = clock or Clock()
    yield DraftEvent(stream, "started", at=clock.now(), method=method, model=backend.spec)
    parts: list[str] = []
    usage: Usage | None = None
    finish: str | None = None
    async for chunk in backend.stream(messages, options):
        if chunk.text:
            parts.append(chunk.text)
            yield DraftEvent(stream, "delta", chunk.text, at=clock.now(), method=method)
        if chunk.usage is not None:
            usage, finish = chunk.usage, chunk.finish_reason
    text = "".join(parts)
    if usage is None:
        raise BackendError(
            f"{backend.spec} ({method}): the {stream} stream ended without its final chunk; the answer may be cut off"
        )
    if not text.strip():
        raise BackendError(
            f"{backend.spec} ({method}): the model returned an empty {stream} text; try again or check the model"
        )
    yield DraftEvent(
        stream,
        "done",
        text.strip(),
        at=clock.now(),
        method=method,
        model=backend.spec,
        usage=usage,
        finish_reason=finish,
    )


RETRY_NOTE = (
    "That answer only repeated the request ({reason}). Write the {genre} itself now: "
    "only its text, from the greeting to the sign-off, with no labels and no tags."
)
"""What a model is told when its written answer was only an echo of the prompt (one retry)."""
RETRY_ANSWER_CHARS = 1500


def prompt_echo(messages: list[Message], template: Template | None = None) -> PromptEcho:
    """What a written answer must not repeat: the prompt's lines, the template's own wording and
    what pa said after the model's answer (a check's feedback, a retry note: all pa's words)."""
    scaffold = (template.system, template.user) if template is not None else ()
    answered = next((i for i, message in enumerate(messages) if message.role == "assistant"), len(messages))
    follow_ups = tuple(message.content for message in messages[answered:] if message.role == "user")
    return PromptEcho.of("\n".join(message.content for message in messages), (*scaffold, *follow_ups))


def retry_options(options: GenerationOptions) -> GenerationOptions:
    """The options pa asks again with: greedy decoding would repeat the failed answer word for word,
    so the second try samples (at least `RETRY_TEMPERATURE`) with the next seed."""
    seed = None if options.seed is None else options.seed + 1
    return replace(options, temperature=max(options.temperature or 0.0, RETRY_TEMPERATURE), seed=seed)


RETRY_TEMPERATURE = 0.7


async def stream_written(
    backend: Backend,
    messages: list[Message],
    *,
    stream: StreamName,
    method: str,
    genre: str = "email",
    template: Template | None = None,
    options: GenerationOptions = GenerationOptions(),
    clock: Clock | None = None,
) -> AsyncIterator[DraftEvent]:
    """A written text (naive, final, a baseline's answer), validated before it is called a draft.

    The model's answer goes through `core.tagged.parse_written`: copied prompt blocks and lines
    are cut (and noted on `done`). An answer that is only an echo is asked for once more, with
    a note saying why (a second `started` event; sampled, with the next seed: `retry_options`);
    when that one is an echo too, DraftRejected
    is raised: a failure is shown as a failure, never as a draft.
    """
    clock = clock or Clock()
    echo = prompt_echo(messages, template)
    conversation = list(messages)
    prompt_tokens = completion_tokens = 0
    seconds = 0.0
    reason = ""
    for attempt in (1, 2):
        done: DraftEvent | None = None
        async for event in stream_text(
            backend, conversation, stream=stream, method=method, options=options, clock=clock
        ):
            if event.kind == "done":
                done = event
            else:
                yield event
        assert done is not None and done.usage is not None  # stream_text raises rather than end without done
        prompt_tokens += done.usage.prompt_tokens
        completion_tokens += done.usage.completion_tokens
        seconds += done.usage.seconds
        result = parse_written(done.text, done.finish_reason, echo=echo)
        if isinstance(result, Parsed):
            notes = result.notes if attempt == 1 else (f"pa asked again: the first answer {reason}", *result.notes)
            usage = Usage(
                prompt_tokens, completion_tokens, seconds, done.usage.first_token_seconds, done.usage.estimated
            )
            yield DraftEvent(
                stream,
                "done",
                result.content,
                at=clock.now(),
                method=method,
                model=backend.spec,
                usage=usage,
                finish_reason=done.finish_reason,
                raw=done.text,
                notes=notes,
            )
            return
        reason = result.reason
        conversation = [
            *messages,
            Message("assistant", done.text[:RETRY_ANSWER_CHARS]),
            Message("user", RETRY_NOTE.format(reason=reason, genre=genre)),
        ]
        echo = prompt_echo(conversation, template)  # the retry note is pa's wording too
        options = retry_options(options)
    raise DraftRejected(
        f"{backend.spec} ({method}): no {stream} text: {reason}, twice; pa shows no draft rather than the prompt. "
        "Try again, or set models.large to a larger model"
    )


async def stream_naive(
    large: Backend,
    request: DraftRequest,
    *,
    genre: str = "email",
    options: GenerationOptions = GenerationOptions(),
    clock: Clock | None = None,
) -> AsyncIterator[DraftEvent]:
    """The naive draft: M_L zero-shot (the paper's large baseline), on stream "naive"."""
    async for event in stream_zero_shot(
        large, request, stream="naive", method="large", genre=genre, options=options, clock=clock
    ):
        yield event


async def stream_zero_shot(
    backend: Backend,
    request: DraftRequest,
    *,
    stream: StreamName = "final",
    method: str = "large",
    genre: str = "email",
    options: GenerationOptions = GenerationOptions(),
    clock: Clock | None = None,
) -> AsyncIterator[DraftEvent]:
    """A model alone from the intent (naive draft, small/large baselines, distillation's draft), validated."""
    form = prompt_form(backend)
    messages = zero_shot_messages(request, genre, form)
    async for event in stream_written(
        backend,
        messages,
        stream=stream,
        method=method,
        genre=genre,
        template=_template("zero_shot", form),
        options=options,
        clock=clock,
    ):
        yield event


async def stream_rules(
    agent: Backend,
    request: DraftRequest,
    *,
    kind: str = "agent",
    genre: str = "email",
    options: GenerationOptions = GenerationOptions(),
    clock: Clock | None = None,
    method: str | None = None,
) -> AsyncIterator[DraftEvent]:
    """The agent writes rules on stream "rules"; `done` carries the parsed rules (and raw, thinking)."""
    options = _with_stops(options, RULE_STOPS)
    method = method or kind
    async for event in stream_text(
        agent, agent_request_messages(request, kind, genre), stream="rules", method=method, options=options, clock=clock
    ):
        if event.kind != "done":
            yield event
            continue
        thinking, rules = read_agent_answer(event.text)
        if not rules:
            if event.finish_reason == "length":
                raise BackendError(
                    f"{agent.spec}: the agent's answer was cut off before its rules ({event.usage.completion_tokens if event.usage else '?'} "
                    "tokens); its answer budget comes from train.max_length (3/8 of it): raise that and retrain, or set drafting.rules_max_tokens"
                )
            raise BackendError(
                f"{agent.spec}: the agent wrote no rules; draft again, or retrain it with `pa train --kind {kind}`"
            )
        yield DraftEvent(
            "rules",
            "done",
            rules,
            at=event.at,
            method=method,
            model=event.model,
            usage=event.usage,
            finish_reason=event.finish_reason,
            raw=event.text,
            thinking=thinking,
        )


async def stream_final(
    large: Backend,
    request: DraftRequest,
    rules: str,
    *,
    genre: str = "email",
    options: GenerationOptions = GenerationOptions(),
    clock: Clock | None = None,
    method: str = "agent",
) -> AsyncGenerator[DraftEvent, None]:
    """M_L writes the text following `rules` (the agent's, or the user's edit), on stream "final", validated."""
    form = prompt_form(large)
    messages = final_messages(request, rules, genre, form)
    async for event in _write_final(large, messages, form, genre=genre, options=options, clock=clock, method=method):
        yield event


def _write_final(
    large: Backend,
    messages: list[Message],
    form: PromptForm,
    *,
    genre: str,
    options: GenerationOptions,
    clock: Clock | None,
    method: str,
) -> AsyncIterator[DraftEvent]:
    """The final stream of `messages`, validated: the first text and a checked regeneration alike."""
    return stream_written(
        large,
        messages,
        stream="final",
        method=method,
        genre=genre,
        template=_template("final", form),
        options=options,
        clock=clock,
    )


async def stream_checked_final(
    large: Backend,
    request: DraftRequest,
    rules: str,
    checker: FinalChecker,
    *,
    genre: str = "email",
    options: GenerationOptions = GenerationOptions(),
    clock: Clock | None = None,
    method: str = "agent",
) -> AsyncIterator[DraftEvent]:
    """`stream_final`, then pa's check against the person's style facts (`core.style.final_check`):
    safe fixes (greeting, closing, name spelling, banned marks) are made by pa; while a check still
    fails, M_L writes the text again (each a new "started" on the final stream), at most
    `checker.regenerations` times: told the failed checks, each later try with the next seed; a
    small model (the plain prompt form) answered that feedback instead of writing the text ("The
    message passes these checks."), so it is asked the same prompt again with the next seed. The
    text closest to the checks is kept: a regeneration that is only an echo of the prompt, or that
    is further from them than the kept text (more failed, or further outside the length band),
    leaves the kept text (noted). A first write that gave no text (only echoes) is written again
    with the next seed while regenerations are left; DraftRejected only when no write gave a text.
    The `done` event carries the checked text and `checks`."""
    clock = clock or Clock()
    form = prompt_form(large)
    first: DraftEvent | None = None  # the first text M_L wrote (the model's words before any repair)
    kept: DraftEvent | None = None
    report: FinalReport | None = None
    usage: Usage | None = None
    notes: tuple[str, ...] = ()
    written, attempt_options = 0, options
    while written <= checker.regenerations and (report is None or report.needs_model):
        if written and (kept is None or written > 1 or form == "plain"):  # only another seed gives another text
            attempt_options = retry_options(attempt_options)
        written += 1
        messages = final_messages(request, rules, genre, form)
        if kept is not None and report is not None and form == "tagged":  # told the failed checks
            messages = [*messages, Message("assistant", kept.text), Message("user", report.feedback())]
        again: DraftEvent | None = None
        try:
            async for event in _write_final(
                large, messages, form, genre=genre, options=attempt_options, clock=clock, method=method
            ):
                if event.kind == "done":
                    again = event
                else:
                    yield event
        except DraftRejected as err:
            if kept is None and written > checker.regenerations:
                raise  # no text at all: a failure is shown as one
            stays = "; the kept text stays" if kept is not None else "; pa wrote again"
            notes = (*notes, f"pa's write {written} gave no text ({err}){stays}")
        if again is None:
            continue
        usage = _sum_usage(usage, again.usage)
        first = first or again
        checked = checker.check(again.text, regenerated=written > 1, original=first.text)
        if report is not None and checker.shortfall(checked) > checker.shortfall(report):
            notes = (*notes, "pa's regeneration was further from the checks than the kept text, which stays")
        else:
            report, kept, notes = checked, again, (*notes, *again.notes)
    assert kept is not None and report is not None  # the loop raises rather than end without a text
    report = replace(report, written=written)
    yield replace(kept, text=report.text, usage=usage, notes=notes, checks=report)


def _sum_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    if a is None or b is None:
        return a or b
    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        seconds=a.seconds + b.seconds,
        first_token_seconds=a.first_token_seconds,
        estimated=a.estimated or b.estimated,
    )


# -- the preference-agent pipeline -----------------------------------------------------------


async def draft(
    large: Backend,
    agent: Backend,
    request: DraftRequest,
    *,
    genre: str = "email",
    text_options: GenerationOptions = GenerationOptions(),
    rules_options: GenerationOptions = GenerationOptions(),
    agent_kind: str = "agent",
    naive: bool = True,
    clock: Clock | None = None,
    checker: FinalChecker | None = None,
    edit_rules: Sequence[EditRuleCandidate] = (),
) -> AsyncGenerator[DraftEvent, None]:
    """Naive draft and agent rules at the same time; the final as soon as the rules are done.

    Events of the streams interleave in the order they happen. A failing stream cancels the
    others and its error is raised here; cancelling the consumer cancels every stream.
    `naive=False` skips the naive draft (the no-baseline method, or a caller that has one).
    With a `checker`, the final is checked against the person's style facts (`stream_checked_final`).
    `edit_rules`: rules learned from the person's edits of similar drafts, merged into the agent's
    before the final (`core.edit_rules.merge_rules`); the rules `done` event lists them.
    """
    clock = clock or Clock()
    method = "agent" if agent_kind == "agent" else agent_kind

    async def rules_then_final() -> AsyncIterator[DraftEvent]:
        rules: str | None = None
        final_checker = checker
        async for event in stream_rules(
            agent, request, kind=agent_kind, genre=genre, options=rules_options, clock=clock, method=method
        ):
            if event.kind == "done":
                rules = event.text
                if edit_rules:
                    from core.edit_rules import checker_for, merge_rules

                    rules, uses = merge_rules(event.text, edit_rules)
                    event = replace(event, edit_rules=uses)
                    final_checker = checker_for(checker, uses)
            yield event
        assert rules is not None  # stream_rules raises rather than end without rules
        final = (
            stream_final(large, request, rules, genre=genre, options=text_options, clock=clock, method=method)
            if final_checker is None
            else stream_checked_final(
                large, request, rules, final_checker, genre=genre, options=text_options, clock=clock, method=method
            )
        )
        async for event in final:
            yield event

    sources = [rules_then_final()]
    if naive:
        sources.insert(0, stream_naive(large, request, genre=genre, options=text_options, clock=clock))
    async for event in merge_streams(sources):
        yield event


class _Finished:
    pass


@dataclass(frozen=True)
class _Failed:
    error: BaseException


async def merge_streams(sources: list[AsyncIterator[DraftEvent]]) -> AsyncIterator[DraftEvent]:
    """Run event generators concurrently and yield their events as they come.

    The first error cancels the rest and is raised; leaving early (cancel, break, aclose)
    cancels every source and waits for them to stop.
    """
    queue: asyncio.Queue[DraftEvent | _Finished | _Failed] = asyncio.Queue()

    async def pump(source: AsyncIterator[DraftEvent]) -> None:
        try:
            async for event in source:
                queue.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the consumer, which raises it
            queue.put_nowait(_Failed(exc))
        else:
            queue.put_nowait(_Finished())

    tasks = [asyncio.create_task(pump(source)) for source in sources]
    running = len(tasks)
    try:
        while running:
            item = await queue.get()
            if isinstance(item, _Finished):
                running -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _with_stops(options: GenerationOptions, stops: tuple[str, ...]) -> GenerationOptions:
    merged = tuple(dict.fromkeys((*options.stop, *stops)))
    return GenerationOptions(options.temperature, options.top_p, options.max_tokens, merged, options.seed)


# -- methods: the preference agent and the paper's baselines ---------------------------------


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    """What it is, for tables: 'M_L zero-shot'."""
    agent_kind: str | None = None
    """The trained model it needs (`core.agents` kind), None when it needs no training."""
    two_stage: bool = False
    """Writes rules first (stream "rules"), then the text."""


METHODS: dict[str, Method] = {
    "agent": Method("agent", "preference agent: agent rules -> M_L", "agent", True),
    "small": Method("small", "small baseline: M_S zero-shot"),
    "large": Method("large", "large baseline: M_L zero-shot"),
    "few-shot": Method("few-shot", "few-shot: M_L with the person's nearest examples"),
    "naive-finetune": Method("naive-finetune", "naive fine-tune: M_S trained on intent -> text", "naive"),
    "no-baseline": Method(
        "no-baseline", "no-baseline agent: rules without a zero-shot draft -> M_L", "no-baseline", True
    ),
}
BASELINES: tuple[str, ...] = ("small", "large", "few-shot", "naive-finetune", "no-baseline")
"""The paper's Table 2 baselines; `METHODS` adds the preference agent itself."""


class DraftContext:
    """Opens what methods need for one profile (models, agents, examples), each once.

    Backends come from config (`models.large` is M_L, `models.agent` is M_S base); agents
    from `core.agents`; few-shot examples from the profile's distilled training documents.
    """

    def __init__(self, paths: Paths, config: Config, store: Store, profile: Profile):
        self.paths = paths
        self.config = config
        self.store = store
        self.profile = profile
        self._backends: dict[str, Backend] = {}
        self._retriever: Retriever | None = None
        self._style_facts: dict[bool, ProfileFacts] = {}
        """By `with_sent`: the corpus alone (compare, eval) or with the texts the person sent."""
        self._edit_rules: EditRuleIndex | None = None

    @classmethod
    def open(
        cls, profile: str, *, paths: Paths | None = None, config: Config | None = None, store: Store | None = None
    ) -> DraftContext:
        from core.config import load_config
        from core.paths import resolve_paths
        from core.store import Store as StoreClass

        paths = paths or resolve_paths()
        config = config or load_config(paths)
        store = store or StoreClass.open(paths.store_file)
        return cls(paths, config, store, store.get_profile(profile))

    @property
    def genre(self) -> str:
        return self.profile.genre

    @property
    def text_options(self) -> GenerationOptions:
        drafting = self.config.drafting
        return GenerationOptions(temperature=drafting.temperature, max_tokens=drafting.max_tokens, seed=drafting.seed)

    @property
    def rules_options(self) -> GenerationOptions:
        drafting = self.config.drafting
        from core.context_window import AgentBudget

        return GenerationOptions(
            temperature=drafting.temperature, max_tokens=AgentBudget.of(self.config).answer, seed=drafting.seed
        )

    def large(self) -> Backend:
        """M_L (`models.large`)."""
        return self._backend(self.config.models.large)

    def small(self) -> Backend:
        """M_S base (`models.agent`), untrained."""
        return self._backend(self.config.models.agent)

    def agent_info(self, kind: str = "agent") -> AgentInfo:
        """The latest trained model of `kind`, or NotTrainedError naming `pa train`."""
        from core.agents import require_agent, template_version

        info = require_agent(self.paths, self.profile.name, kind)
        trained_on = info.manifest.get("prompt_template")
        if trained_on and trained_on != template_version(kind):
            raise NotTrainedError(
                f"{info.label} was trained on prompt {trained_on} but pa now asks with {template_version(kind)}; "
                f"retrain it with `pa train --profile {self.profile.name} --kind {kind}`"
            )
        return info

    def agent(self, kind: str = "agent") -> Backend:
        """The latest trained model of `kind` as a backend (its GGUF via llama.cpp)."""
        from core.llm.specs import ModelSpec
        from core.remote_agents import remote_agent_backend

        info = self.agent_info(kind)
        remote = remote_agent_backend(info, self.config)  # served by a multi-LoRA server (models.agent = openai:...)
        if remote is not None:
            return remote
        key = f"gguf:{info.gguf}"
        if key not in self._backends:
            from core.llm.specs import open_backend

            self._backends[key] = open_backend(ModelSpec("gguf", info.gguf.stem, info.gguf), self.config)
        return self._backends[key]

    def retriever(self) -> Retriever:
        """The few-shot retriever over the profile's (intent, text) training pairs."""
        if self._retriever is None:
            from core.retrieval import build_retriever, training_examples

            examples = training_examples(self.store, self.profile.id)
            if not examples:
                raise NotTrainedError(
                    f"profile {self.profile.name!r} has no distilled intents for few-shot examples yet; "
                    f"run `pa distill --profile {self.profile.name}` first"
                )
            cache = self.paths.profile_dir(self.profile.name) / "cache" / "retrieval"
            self._retriever = build_retriever(self.config.drafting.retriever, examples, cache_dir=cache)
        return self._retriever

    def edit_rule_candidates(self, request: DraftRequest) -> list[EditRuleCandidate]:
        """Rules learned from the person's edits of drafts on the most similar intents (`core.edit_rules`)."""
        if self._edit_rules is None:
            from core.edit_rules import EditRuleIndex

            drafting = self.config.drafting
            self._edit_rules = EditRuleIndex.load(
                self.store, self.profile.id, drafting.edit_rules_k, drafting.edit_rules_min_similarity
            )
        return self._edit_rules.candidates(request.intent, request.recipient)

    def forget_edit_rules(self) -> None:
        """New rules were learned from edits: the next draft reads them again."""
        self._edit_rules = None

    def forget_style_facts(self) -> None:
        """The person sent a text: the next draft's checks measure it too."""
        self._style_facts.pop(True, None)

    def checks_final(self, method: str) -> bool:
        """Whether `method`'s final is checked against the style facts: the agent-guided final,
        when `drafting.check_final` is on; never a paper baseline."""
        return method == "agent" and self.config.drafting.check_final

    def final_checker(self, request: DraftRequest, *, with_sent: bool = False) -> FinalChecker | None:
        """A checker of finals for `request` from the profile's measured facts (training split;
        `with_sent`: and the texts the person sent from pa's drafts, for drafting them), or None
        when checking is off or the facts say nothing clearly enough to check."""
        if not self.config.drafting.check_final:
            return None
        from core.style.facts_store import load_profile_facts
        from core.style.final_check import FinalChecker

        if with_sent not in self._style_facts:  # measured once per context: an evaluation checks many finals
            self._style_facts[with_sent] = load_profile_facts(self.store, self.profile, with_sent=with_sent)
        facts = self._style_facts[with_sent]
        checker = FinalChecker.for_request(
            facts,
            request.recipient,
            request.subject,
            request.previous,
            regenerations=self.config.drafting.check_regenerations,
        )
        return checker if checker.active else None

    def unavailable(self, method: str) -> str | None:
        """Why `method` cannot run yet (the message names the command that fixes it), or None."""
        spec = method_of(method)
        try:
            if spec.agent_kind:
                self.agent_info(spec.agent_kind)
            if spec.name == "few-shot":
                self.retriever()
        except NotTrainedError as err:
            return str(err)
        return None

    def _backend(self, spec: str) -> Backend:
        if spec not in self._backends:
            from core.llm.specs import open_backend

            self._backends[spec] = open_backend(spec, self.config)
        return self._backends[spec]


def method_of(name: str) -> Method:
    from core.errors import UsageError

    try:
        return METHODS[name]
    except KeyError:
        raise UsageError(f"unknown method {name!r}; use one of {', '.join(METHODS)}") from None


async def stream_method(
    name: str, request: DraftRequest, context: DraftContext, *, clock: Clock | None = None
) -> AsyncIterator[DraftEvent]:
    """One method alone, streaming: its answer on stream "final" (two-stage methods: "rules" first).

    Raises NotTrainedError (before any event) when the method's model is not trained.
    """
    method = method_of(name)
    clock = clock or Clock()
    genre, text_options = context.genre, context.text_options
    if method.name in ("agent", "no-baseline"):
        agent, large = context.agent(method.agent_kind or "agent"), context.large()
        source: AsyncIterator[DraftEvent] = draft(
            large,
            agent,
            request,
            genre=genre,
            text_options=text_options,
            rules_options=context.rules_options,
            agent_kind=method.agent_kind or "agent",
            naive=False,
            clock=clock,
            checker=context.final_checker(request) if context.checks_final(method.name) else None,
        )
    elif method.name == "naive-finetune":
        from core.agents import TEMPLATES

        agent = context.agent("naive")
        source = stream_written(
            agent,
            agent_request_messages(request, "naive", genre),
            stream="final",
            method=name,
            genre=genre,
            template=load_template(TEMPLATES["naive"]),
            options=text_options,
            clock=clock,
        )
    elif method.name == "few-shot":
        examples = context.retriever().top_k(request.intent, context.config.drafting.few_shot_k)
        large = context.large()
        form = prompt_form(large)
        source = stream_written(
            large,
            few_shot_messages(request, examples, genre, form),
            stream="final",
            method=name,
            genre=genre,
            template=_template("few_shot", form),
            options=text_options,
            clock=clock,
        )
    else:
        backend = context.small() if method.name == "small" else context.large()
        source = stream_zero_shot(
            backend, request, stream="final", method=name, genre=genre, options=text_options, clock=clock
        )
    async for event in source:
        yield event


stream_baseline = stream_method
"""The name the shared contract uses: `stream_baseline(name, request, context)`."""


@dataclass(frozen=True)
class MethodResult:
    """A method's whole answer, for evaluation and `pa compare`."""

    method: str
    text: str
    model: str | None
    seconds: float
    first_token_seconds: float | None
    usage: Usage | None
    rules: str | None = None
    rules_usage: Usage | None = None
    checks: FinalReport | None = None
    """pa's checks of a checked final (the agent method), else None."""


async def generate(
    name: str,
    request: DraftRequest,
    context: DraftContext,
    *,
    on_event: Callable[[DraftEvent], Awaitable[None] | None] | None = None,
) -> MethodResult:
    """Run one method to the end and return its text (optionally seeing each event)."""
    transcript = DraftTranscript()
    clock = Clock()
    async for event in stream_method(name, request, context, clock=clock):
        transcript.apply(event)
        if on_event is not None:
            maybe = on_event(event)
            if maybe is not None:
                await maybe
    final = transcript.streams["final"]
    rules = transcript.streams.get("rules")
    return MethodResult(
        method=name,
        text=final.text or "",
        model=final.model,
        seconds=clock.now(),
        first_token_seconds=final.first_token_at,
        usage=final.usage,
        rules=rules.text if rules else None,
        rules_usage=rules.usage if rules else None,
        checks=final.checks,
    )
