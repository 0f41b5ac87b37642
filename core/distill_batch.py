"""Distillation on batch engines: every pending call as one JSONL request, the answers back into the journal.

`pa distill --batch-export FILE.jsonl` writes the calls distillation would make next, in the
request format of the OpenAI Batch API and of `vllm run-batch` (one line per call:
`custom_id`, `method`, `url`, `body`). `pa distill --batch-import FILE.jsonl` reads the output
file those engines write (`custom_id`, `response.status_code`, `response.body`, `error`),
commits each answer to the distillation journal exactly as a live call would, and continues:
answers that parse finish their stage, and the calls that now become possible (drafts after
intents, rules after drafts, retries after a refused answer) are what the next export writes.

How the pending calls are found: distillation itself runs, with a backend that records each
call it is asked (with its journal key, `core.distill.CURRENT_CALL`) and never answers it.
Everything distillation decides (which stages, which documents, replays from the journal,
retries with the reason shown) is therefore the live run's own logic, and an answer
imported once is never asked for again: it is in the journal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BackendError, UsageError
from core.llm.base import Chunk, GenerationOptions, Message, Price, Probe
from core.locks import writes_profile

if TYPE_CHECKING:
    from core.config import Config
    from core.distill_calls import CallKey
    from core.store import Profile, Store

BATCH_URL = "/v1/chat/completions"
QUIET_TICKS = 200
"""Event-loop turns without a new call or progress after which distillation is waiting on calls only."""


@dataclass(frozen=True)
class PendingCall:
    custom_id: str
    key: CallKey
    body: dict[str, Any]

    def request_line(self) -> dict[str, Any]:
        return {"custom_id": self.custom_id, "method": "POST", "url": BATCH_URL, "body": self.body}


@dataclass
class ImportSummary:
    imported: int = 0
    """Answers written to the journal."""
    already: int = 0
    """Answers for calls the journal already had (a file imported twice): not written again."""
    unknown: int = 0
    """Lines whose custom_id is not a pending call of this profile and model (another profile, stale)."""
    errors: list[str] = field(default_factory=list)
    """Lines the engine answered with an error; those calls stay pending for the next export."""
    pending: int = 0
    """Calls pending after the import (what the next --batch-export writes)."""


def custom_id(profile: str, key: CallKey) -> str:
    return f"pa:{profile}:{key.document_id}:{key.stage}:{key.slot}:{key.attempt}"


class _Recorder:
    """A backend that records each call distillation makes, and leaves it unanswered."""

    price: Price | None = None
    streams = False  # the batch engine answers later, whole
    continues_answer = False  # one request per answer: a batch cannot continue a started answer

    def __init__(self, spec: str, model_name: str, profile: str) -> None:
        self.spec = spec
        self.model_name = model_name
        self.profile = profile
        self.calls: dict[str, PendingCall] = {}

    async def probe(self) -> Probe:
        """Nothing to reach: the calls go to a file for the batch engine."""
        return Probe(reachable=True, model_present=None)

    async def stream(
        self, messages: Sequence[Message], options: GenerationOptions = GenerationOptions()
    ) -> AsyncIterator[Chunk]:
        from core.distill_calls import CURRENT_CALL

        key = CURRENT_CALL.get()
        if key is None:  # pragma: no cover - core.distill sets it before every call
            raise BackendError("batch export: a distillation call without its journal key")
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        body.update(options.given())
        call_id = custom_id(self.profile, key)
        self.calls[call_id] = PendingCall(call_id, key, body)
        await asyncio.Event().wait()  # never answered: the batch engine answers it
        yield Chunk("")  # pragma: no cover


async def pending_calls(
    store: Store,
    profile: Profile,
    config: Config,
    spec: str,
    *,
    stages: Iterable[str] | None = None,
    limit: int | None = None,
    retry_failed: bool = False,
) -> list[PendingCall]:
    """Run distillation as far as the journal allows; the calls it then waits for.

    Stages whose answers are all in the journal are committed on the way (this is how an
    import continues the run).
    """
    from core.distill import STAGES, distill_profile
    from core.llm.specs import parse_spec

    recorder = _Recorder(spec, parse_spec(spec).name, profile.name)
    progress = [0]
    documents = len(store.documents(profile.id, limit=limit))
    task = asyncio.ensure_future(
        distill_profile(
            store,
            profile,
            recorder,
            config,
            stages=tuple(stages or STAGES),
            limit=limit,
            concurrency=max(8, 8 * documents),
            retry_failed=retry_failed,
            on_progress=lambda _: progress.__setitem__(0, progress[0] + 1),
        )
    )
    quiet, seen = 0, (-1, -1)
    while not task.done() and quiet < QUIET_TICKS:
        await asyncio.sleep(0)
        now = (len(recorder.calls), progress[0])
        quiet = quiet + 1 if now == seen else 0
        seen = now
    if task.done():
        task.result()  # an error (bad stage, no documents) is raised here
    else:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return sorted(recorder.calls.values(), key=lambda c: (c.key.document_id, c.key.stage, c.key.slot, c.key.attempt))


def export_batch(store: Store, profile: Profile, config: Config, spec: str, file: Path, **options: Any) -> int:
    """Write every pending call to `file` (JSONL); the number written."""
    calls = asyncio.run(pending_calls(store, profile, config, spec, **options))
    partial = file.with_name(file.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            for call in calls:
                out.write(json.dumps(call.request_line(), ensure_ascii=False) + "\n")
        partial.replace(file)
    except OSError as exc:
        raise UsageError(
            f"--batch-export {file}: cannot write ({exc.strerror or exc.__class__.__name__}); check the folder"
        ) from None
    return len(calls)


def read_results(file: Path) -> list[dict[str, Any]]:
    """The output lines of a batch engine; a line that is not a JSON object is a UsageError naming it."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"--batch-import {file}: cannot read ({exc.__class__.__name__}); give the engine's output JSONL"
        ) from None
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(
                f"--batch-import {file}:{number}: not JSON; give the batch output file (one JSON object per line)"
            ) from None
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            raise UsageError(f"--batch-import {file}:{number}: no custom_id; is this a batch output file?")
        lines.append(item)
    return lines


def _answer_of(item: dict[str, Any]) -> tuple[str, str | None, int, int] | str:
    """(text, finish_reason, prompt_tokens, completion_tokens), or why the line holds no answer."""
    if item.get("error"):
        error = item["error"]
        return f"engine error: {error.get('message') if isinstance(error, dict) else error}"
    response = item.get("response") or {}
    status = response.get("status_code")
    body = response.get("body") or {}
    if status != 200:
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else None
        return f"HTTP {status}: {message or 'no answer'}"
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise TypeError("content")
    except (KeyError, IndexError, TypeError):
        return "the response body has no choices[0].message.content"
    usage = body.get("usage") or {}
    return (
        text,
        choice.get("finish_reason"),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )


@writes_profile("pa distill --batch-import", lambda args: args["profile"].name)
def import_batch(
    store: Store, profile: Profile, config: Config, spec: str, file: Path, **options: Any
) -> ImportSummary:
    """Commit the answers in `file` to the journal, then continue distillation as far as they allow."""
    results = read_results(file)
    summary = ImportSummary()
    pending = {call.custom_id: call for call in asyncio.run(pending_calls(store, profile, config, spec, **options))}
    journalled = _journalled_ids(store, profile, spec)
    for item in results:
        call_id = item["custom_id"]
        call = pending.get(call_id)
        if call is None:
            if call_id in journalled:
                summary.already += 1
            else:
                summary.unknown += 1
            continue
        answer = _answer_of(item)
        if isinstance(answer, str):
            summary.errors.append(f"{call_id}: {answer}")
            continue
        _journal(store, spec, call, *answer)
        del pending[call_id]
        summary.imported += 1
    summary.pending = len(asyncio.run(pending_calls(store, profile, config, spec, **options)))
    return summary


def _journalled_ids(store: Store, profile: Profile, spec: str) -> set[str]:
    rows = store.query(
        "SELECT c.document_id, c.stage, c.slot, c.attempt FROM distill_calls c JOIN documents d ON d.id = c.document_id "
        "WHERE d.profile_id = ? AND c.model = ?",
        (profile.id, spec),
    )
    return {f"pa:{profile.name}:{r['document_id']}:{r['stage']}:{r['slot']}:{r['attempt']}" for r in rows}


def _journal(
    store: Store, spec: str, call: PendingCall, raw: str, finish: str | None, prompt_tokens: int, completion_tokens: int
) -> None:
    """One answer into `distill_calls`, as a live call writes it (the verdict is the stage's parser's)."""
    from core.distill import stage_parser
    from core.tagged import Rejected

    key = call.key
    document = store.get_document(key.document_id)
    result = stage_parser(key.stage, document)(raw, finish)
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO distill_calls (document_id, stage, slot, attempt, raw, finish_reason, verdict, model, "
            "template_id, template_version, temperature, prompt_tokens, completion_tokens, seconds) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key.document_id,
                key.stage,
                key.slot,
                key.attempt,
                raw,
                finish,
                result.reason if isinstance(result, Rejected) else None,
                spec,
                key.template_id,
                key.template_version,
                key.temperature,
                prompt_tokens,
                completion_tokens,
                None,
            ),
        )
