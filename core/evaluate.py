"""Evaluation on the person's own held-out texts: pairwise win rates and similarity scores.

For each held-out document (split 'test') whose intent distilled ok, every method writes a
text from that intent (the preference agent, "agent", and the requested baselines of
`core.drafting`); then

- a judge model compares the agent's text with each baseline's, given the real text, in both
  orders (`core.judging`): a verdict that flips with the order is a tie, an answer that never
  parses is counted as invalid and reported, never dropped;
- each text is scored against the real one (`core.similarity`): BERTScore-style F1, sentence
  cosine, length ratio.

Everything is stored (eval_generations, eval_verdicts, eval_scores), so a re-run reports
without regenerating, and an interrupted run continues where it stopped. A generation is
keyed by the models that made it (`generation_key`): retraining the agent or changing
`models.large` regenerates that method and drops its stale scores and verdicts.

`permutation()` applies each profile's agent to every profile's held-out intents (the
paper's sender permutation): the matrix of mean similarity, normalised by row and column.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from core.errors import NotTrainedError, PaError, UsageError
from core.events import Progress, ProgressCallback, ignore_progress
from core.intervals import bootstrap_mean, wilson
from core.judging import combine, judge_key, judge_ordered, winner_of
from core.locks import writes_profile
from core.similarity import METRICS

if TYPE_CHECKING:
    from core.config import Config
    from core.drafting import DraftContext, DraftRequest
    from core.llm.base import Backend, Usage
    from core.paths import Paths
    from core.similarity import SimilarityModel
    from core.store import Document, Profile, Store

AGENT = "agent"
REPORT_KIND = "pa.eval"
PERMUTATION_KIND = "pa.eval.permutation"
REPORT_VERSION = 1


# -- what is evaluated -----------------------------------------------------------------------


@dataclass(frozen=True)
class HeldOut:
    """A held-out document and the intent distillation wrote for it."""

    document: Document
    intent: str

    def request(self) -> DraftRequest:
        from core.drafting import DraftRequest

        doc = self.document
        return DraftRequest(self.intent, recipient=doc.recipients, subject=doc.subject, previous=doc.previous_context)


def held_out(store: Store, profile: Profile, limit: int | None = None) -> list[HeldOut]:
    """The first `limit` held-out documents (by id) with an ok intent; an error says what is missing."""
    rows = store.intent_pairs(profile.id, "test", limit)
    if not rows:
        counts = store.count_documents(profile.id)
        if counts["test"] == 0:
            raise UsageError(
                f"profile {profile.name!r} has no held-out documents; import its corpus again with a test split "
                f"(`pa import PATH --profile {profile.name}`)"
            )
        raise NotTrainedError(
            f"none of the {counts['test']} held-out documents of profile {profile.name!r} has an intent yet; "
            f"run `pa distill --profile {profile.name}` first"
        )
    return [HeldOut(store.get_document(row.document_id), row.intent) for row in rows]


def generation_key(context: DraftContext, method: str) -> str:
    """What makes `method`'s text: models, prompt templates (and versions), generation options and seed.

    A stored generation is reused only under the same key, so a changed template, prompt form,
    temperature, token budget or seed regenerates it instead of scoring a stale text.
    """
    from core.drafting import method_of

    spec = method_of(method)
    config = context.config
    if spec.name == "small":
        models = config.models.agent
    elif spec.name == "large":
        models = config.models.large
    elif spec.name == "few-shot":
        models = f"{config.models.large}|few-shot:{config.drafting.retriever}:k={config.drafting.few_shot_k}"
    elif spec.name == "naive-finetune":
        models = context.agent_info("naive").label
    else:
        models = f"{config.models.large}|{context.agent_info(spec.agent_kind or AGENT).label}"
    key = f"{models}|{_generation_setup(context, spec.name)}"
    return key + "|checked-final" if context.checks_final(spec.name) else key  # core.style.final_check


def _generation_setup(context: DraftContext, method: str) -> str:
    """The prompts (id@version, in the writer's prompt form) and options a method's text is made with."""
    from core.agents import TEMPLATES
    from core.drafting import prompt_form
    from core.prompts import load_template

    writer = context.small() if method == "small" else context.large()
    form = prompt_form(writer)
    names = {
        "small": ["zero_shot"],
        "large": ["zero_shot"],
        "few-shot": ["few_shot"],
        "agent": ["final"],
        "no-baseline": ["final"],
    }
    templates = [
        load_template(f"drafting.{name}_plain" if form == "plain" else f"drafting.{name}")
        for name in names.get(method, [])
    ]
    if method in ("agent", "no-baseline", "naive-finetune"):
        templates.append(load_template(TEMPLATES["naive" if method == "naive-finetune" else "agent"]))
    text, rules = context.text_options, context.rules_options
    options = f"t={text.temperature},max={text.max_tokens},seed={text.seed}"
    if method in ("agent", "no-baseline"):
        options += f";rules max={rules.max_tokens}"
    return ",".join(f"{t.id}@{t.version}" for t in templates) + f"|{options}"


# -- the stored pieces -----------------------------------------------------------------------


@dataclass(frozen=True)
class Generation:
    document_id: int
    method: str
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float | None
    cost_usd: float | None
    reused: bool
    rules: str | None = None
    """The rules an agent wrote for this text (agent-guided methods only)."""


GENERATION_COLUMNS = tuple(f.name for f in fields(Generation) if f.name != "reused")
"""The `eval_generations` columns a Generation is stored in and read back from (same names)."""


def _stored_generation(store: Store, profile_id: int, document_id: int, method: str) -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in store.query(
            "SELECT * FROM eval_generations WHERE profile_id = ? AND document_id = ? AND method = ?",
            (profile_id, document_id, method),
        )
    ]


def _forget(db: sqlite3.Connection, profile_id: int, document_id: int, method: str) -> None:
    """Drop a method's generation for one document and everything computed from it."""
    db.execute(
        "DELETE FROM eval_generations WHERE profile_id = ? AND document_id = ? AND method = ?",
        (profile_id, document_id, method),
    )
    db.execute(
        "DELETE FROM eval_scores WHERE profile_id = ? AND document_id = ? AND method = ?",
        (profile_id, document_id, method),
    )
    db.execute(
        "DELETE FROM eval_verdicts WHERE profile_id = ? AND document_id = ? AND (method_a = ? OR method_b = ?)",
        (profile_id, document_id, method, method),
    )


async def ensure_generation(
    store: Store,
    context: DraftContext,
    item: HeldOut,
    method: str,
    *,
    stored_as: str | None = None,
) -> Generation:
    """The stored text of `method` for `item`, generating it only when missing or made by other models.

    `stored_as` names the row when it differs from the method (the permutation stores another
    profile's agent as `agent@NAME`).
    """
    from core.drafting import generate
    from core.llm.specs import price_of

    name = stored_as or method
    profile_id = item.document.profile_id
    key = generation_key(context, method)
    for row in _stored_generation(store, profile_id, item.document.id, name):
        if row["model"] == key:
            return Generation(**{column: row[column] for column in GENERATION_COLUMNS}, reused=True)
    result = await generate(method, item.request(), context)
    usages = [u for u in (result.usage, result.rules_usage) if u is not None]
    prompt_tokens = sum(u.prompt_tokens for u in usages)
    completion_tokens = sum(u.completion_tokens for u in usages)
    cost = None
    if result.usage is not None:
        # Only the text-writing model can be remote and priced; agents always run locally.
        writer = context.small() if method == "small" else context.large() if method != "naive-finetune" else None
        price = price_of(writer) if writer is not None else None
        cost = price.cost(result.usage) if price else None
    generation = Generation(
        item.document.id,
        name,
        result.text,
        key,
        prompt_tokens,
        completion_tokens,
        result.seconds,
        cost,
        reused=False,
        rules=result.rules,
    )
    with store.transaction() as db:
        _forget(db, profile_id, item.document.id, name)
        db.execute(
            f"INSERT INTO eval_generations (profile_id, {', '.join(GENERATION_COLUMNS)}) "
            f"VALUES (?{', ?' * len(GENERATION_COLUMNS)})",
            (profile_id, *(getattr(generation, column) for column in GENERATION_COLUMNS)),
        )
    return generation


def ensure_scores(store: Store, similarity: SimilarityModel, item: HeldOut, method: str, text: str) -> dict[str, float]:
    """Similarity of a generation to the real text, computed once and stored."""
    profile_id, document_id = item.document.profile_id, item.document.id
    rows = store.query(
        "SELECT metric, value FROM eval_scores WHERE profile_id = ? AND document_id = ? AND method = ?",
        (profile_id, document_id, method),
    )
    values = {row["metric"]: row["value"] for row in rows}
    if all(metric in values for metric in METRICS):
        return {metric: values[metric] for metric in METRICS}
    scores = similarity.score(text, item.document.text).as_metrics()
    with store.transaction() as db:
        db.executemany(
            "INSERT OR REPLACE INTO eval_scores (profile_id, document_id, method, metric, value) VALUES (?, ?, ?, ?, ?)",
            [(profile_id, document_id, method, metric, value) for metric, value in scores.items()],
        )
    return scores


@dataclass(frozen=True)
class StoredVerdict:
    method_a: str
    method_b: str
    winner: str | None
    raw: str | None
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    reused: bool


async def ensure_verdict(
    store: Store,
    judge: Backend,
    config: Config,
    item: HeldOut,
    genre: str,
    first: Generation,
    second: Generation,
) -> StoredVerdict:
    """The judge's verdict with `first` shown as candidate A, asked once and stored."""
    profile_id, document_id = item.document.profile_id, item.document.id
    rows = store.query(
        """SELECT * FROM eval_verdicts
           WHERE profile_id = ? AND document_id = ? AND method_a = ? AND method_b = ? AND judge = ?""",
        (profile_id, document_id, first.method, second.method, judge_key(judge)),
    )
    if rows:
        row = rows[0]
        return StoredVerdict(
            first.method,
            second.method,
            row["winner"],
            row["raw"],
            row["attempts"],
            row["prompt_tokens"],
            row["completion_tokens"],
            True,
        )
    result = await judge_ordered(
        judge,
        genre=genre,
        real=item.document.text,
        candidate_a=first.text,
        candidate_b=second.text,
        attempts=config.eval.judge_attempts,
        max_tokens=config.eval.judge_max_tokens,
        seed=config.eval.seed,
    )
    winner = winner_of(result.letter, first.method, second.method)
    with store.transaction() as db:
        db.execute(
            """INSERT OR REPLACE INTO eval_verdicts
               (profile_id, document_id, method_a, method_b, judge, winner, raw, attempts, prompt_tokens, completion_tokens)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                profile_id,
                document_id,
                first.method,
                second.method,
                judge_key(judge),
                winner,
                result.raw,
                result.attempts,
                result.prompt_tokens,
                result.completion_tokens,
            ),
        )
    return StoredVerdict(
        first.method,
        second.method,
        winner,
        result.raw,
        result.attempts,
        result.prompt_tokens,
        result.completion_tokens,
        False,
    )


# -- one profile -----------------------------------------------------------------------------


@dataclass
class _Tally:
    """Counters for the report, gathered while the evaluation runs."""

    generated: int = 0
    reused_generations: int = 0
    judged: int = 0
    reused_verdicts: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, method: str, document_id: int, error: PaError) -> None:
        self.failures.setdefault(method, []).append(f"document {document_id}: {error}")


def choose_baselines(context: DraftContext, requested: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """The baselines to run and the ones skipped (with why). Asked-for ones must be available."""
    from core.drafting import BASELINES, method_of

    explicit = bool(requested)
    names = list(dict.fromkeys(requested or context.config.eval.baselines or BASELINES))
    for name in names:
        method_of(name)
        if name == AGENT:
            raise UsageError(
                "'agent' is the method being evaluated, not a baseline; name baselines like " + ", ".join(BASELINES)
            )
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for name in names:
        why = context.unavailable(name)
        if why is None:
            chosen.append(name)
        elif explicit:
            raise NotTrainedError(f"baseline {name!r} cannot run: {why}")
        else:
            skipped[name] = why
    return chosen, skipped


@writes_profile("pa eval", lambda args: args["profile_name"])
async def evaluate_profile(
    store: Store,
    paths: Paths,
    config: Config,
    profile_name: str,
    *,
    judge: Backend,
    baselines: Sequence[str] | None = None,
    limit: int | None = None,
    context: DraftContext | None = None,
    similarity: SimilarityModel | None = None,
    on_progress: ProgressCallback = ignore_progress,
) -> dict[str, Any]:
    """Generate, score and judge the profile's held-out documents; return the report (a JSON-able dict)."""
    from core.drafting import METHODS, DraftContext
    from core.similarity import shared_model

    profile = store.get_profile(profile_name)
    context = context or DraftContext(paths, config, store, profile)
    # eval.seed seeds every generation of the evaluation (drafting.seed is for interactive drafts).
    context.config = context.config.model_copy(
        update={"drafting": context.config.drafting.model_copy(update={"seed": config.eval.seed})}
    )
    why = context.unavailable(AGENT)
    if why is not None:
        raise NotTrainedError(why)
    chosen, skipped = choose_baselines(context, baselines)
    methods = [AGENT, *chosen]
    items = held_out(store, profile, limit or config.eval.limit)
    similarity = similarity or shared_model()
    tally = _Tally()

    generations: dict[tuple[int, str], Generation] = {}
    total = len(items) * len(methods)
    done = 0
    for item in items:
        for method in methods:
            on_progress(Progress("eval:generate", done, total, message=f"{method} for document {item.document.id}"))
            try:
                generation = await ensure_generation(store, context, item, method)
            except NotTrainedError:
                raise
            except PaError as err:  # one bad answer must not sink the whole run; reported below
                tally.fail(method, item.document.id, err)
            else:
                generations[(item.document.id, method)] = generation
                if generation.reused:
                    tally.reused_generations += 1
                else:
                    tally.generated += 1
            done += 1
    on_progress(Progress("eval:generate", done, total, errors=sum(map(len, tally.failures.values()))))

    scores: dict[tuple[int, str], dict[str, float]] = {}
    for index, ((document_id, method), generation) in enumerate(generations.items()):
        on_progress(Progress("eval:score", index, len(generations)))
        item = next(i for i in items if i.document.id == document_id)
        scores[(document_id, method)] = ensure_scores(store, similarity, item, method, generation.text)
    on_progress(Progress("eval:score", len(generations), len(generations)))

    verdicts: list[tuple[HeldOut, str, StoredVerdict, StoredVerdict]] = []
    pairs = [
        (item, b)
        for item in items
        for b in chosen
        if (item.document.id, AGENT) in generations and (item.document.id, b) in generations
    ]
    for index, (item, baseline) in enumerate(pairs):
        on_progress(
            Progress("eval:judge", index, len(pairs), message=f"agent vs {baseline}, document {item.document.id}")
        )
        agent_text = generations[(item.document.id, AGENT)]
        other = generations[(item.document.id, baseline)]
        first = await ensure_verdict(store, judge, config, item, profile.genre, agent_text, other)
        second = await ensure_verdict(store, judge, config, item, profile.genre, other, agent_text)
        for verdict in (first, second):
            if verdict.reused:
                tally.reused_verdicts += 1
            else:
                tally.judged += 1
        verdicts.append((item, baseline, first, second))
    on_progress(Progress("eval:judge", len(pairs), len(pairs)))

    report = _profile_report(
        profile,
        config,
        context,
        judge,
        items,
        methods,
        skipped,
        generations,
        scores,
        verdicts,
        tally,
        {name: METHODS[name].title for name in methods},
    )
    report["style_measures"] = _style_measures(store, profile, items, generations, config)
    return report


def _style_measures(
    store: Store, profile: Profile, items: list[HeldOut], generations: dict[tuple[int, str], Generation], config: Config
) -> dict[str, Any]:
    """pa's model-free measures (attribution, fact match, length error): core.style.style_eval."""
    from core.style.style_eval import profile_measures

    texts: dict[str, dict[int, str]] = {}
    for (document_id, method), generation in generations.items():
        texts.setdefault(method, {})[document_id] = generation.text
    return profile_measures(
        store,
        profile,
        [item.document for item in items],
        texts,
        seed=config.eval.seed,
        samples=config.eval.bootstrap_samples,
    )


def _profile_report(
    profile: Profile,
    config: Config,
    context: DraftContext,
    judge: Backend,
    items: list[HeldOut],
    methods: list[str],
    skipped: dict[str, str],
    generations: dict[tuple[int, str], Generation],
    scores: dict[tuple[int, str], dict[str, float]],
    verdicts: list[tuple[HeldOut, str, StoredVerdict, StoredVerdict]],
    tally: _Tally,
    titles: dict[str, str],
) -> dict[str, Any]:
    """The report of one profile: per-method rows, pairwise rows, the judge's usage, the documents."""
    method_rows = _method_rows(config, methods, generations, scores, tally, titles)
    pairwise = _pairwise_rows(methods, verdicts, titles)
    judge_usage = _judge_usage(context, judge, verdicts)
    documents = _document_details(items, methods, generations, scores, verdicts)
    return {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "profile": profile.name,
        "genre": profile.genre,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "models": {"large": config.models.large, "agent_base": config.models.agent, "judge": judge.spec},
        "agent": context.agent_info(AGENT).label,
        "documents": len(items),
        "methods": method_rows,
        "skipped": skipped,
        "pairwise": pairwise,
        "judge_usage": judge_usage,
        "run": {
            "generated": tally.generated,
            "reused_generations": tally.reused_generations,
            "judged": tally.judged,
            "reused_verdicts": tally.reused_verdicts,
        },
        "details": documents,
    }


def _method_rows(
    config: Config,
    methods: list[str],
    generations: dict[tuple[int, str], Generation],
    scores: dict[tuple[int, str], dict[str, float]],
    tally: _Tally,
    titles: dict[str, str],
) -> dict[str, Any]:
    """Per method: documents written, failures, similarity with bootstrap intervals, tokens, cost."""
    seed, samples = config.eval.seed, config.eval.bootstrap_samples
    method_rows: dict[str, Any] = {}
    for method in methods:
        mine = [g for (_, m), g in generations.items() if m == method]
        similarity = {}
        for metric in METRICS:
            values = [scores[(g.document_id, method)][metric] for g in mine]
            similarity[metric] = (
                {**bootstrap_mean(values, samples, seed).as_dict(), "n": len(values)} if values else None
            )
        costs = [g.cost_usd for g in mine if g.cost_usd is not None]
        method_rows[method] = {
            "title": titles[method],
            "model": mine[0].model if mine else None,
            "documents": len(mine),
            "failed": tally.failures.get(method, []),
            "similarity": similarity,
            "tokens": {
                "prompt": sum(g.prompt_tokens for g in mine),
                "completion": sum(g.completion_tokens for g in mine),
            },
            "seconds_mean": (sum(g.seconds or 0.0 for g in mine) / len(mine)) if mine else None,
            "cost_usd": sum(costs) if costs else None,
        }

    return method_rows


def _pairwise_rows(
    methods: list[str], verdicts: list[tuple[HeldOut, str, StoredVerdict, StoredVerdict]], titles: dict[str, str]
) -> list[dict[str, Any]]:
    """The agent against each baseline: win/tie/loss/invalid counts and Wilson intervals."""
    pairwise: list[dict[str, Any]] = []
    for baseline in [m for m in methods if m != AGENT]:
        outcomes = [combine(AGENT, first.winner, second.winner) for _, b, first, second in verdicts if b == baseline]
        n = len(outcomes)
        counts = {kind: sum(1 for o in outcomes if o.outcome == kind) for kind in ("win", "tie", "loss", "invalid")}
        pairwise.append(
            {
                "baseline": baseline,
                "title": titles[baseline],
                "n": n,
                **counts,
                "flipped": sum(1 for o in outcomes if o.flipped),
                "win_rate": wilson(counts["win"], n).as_dict(),
                # Wins over decided pairs (ties and invalid verdicts left out): the paper's way, for comparison.
                "decisive_win_rate": wilson(counts["win"], counts["win"] + counts["loss"]).as_dict(),
                "tie_rate": wilson(counts["tie"], n).as_dict(),
                "loss_rate": wilson(counts["loss"], n).as_dict(),
                "invalid_rate": wilson(counts["invalid"], n).as_dict(),
            }
        )

    return pairwise


def _judge_usage(
    context: DraftContext, judge: Backend, verdicts: list[tuple[HeldOut, str, StoredVerdict, StoredVerdict]]
) -> dict[str, Any]:
    """What judging cost and how reliable the verdicts were; whether the judge is M_L itself."""
    from core.llm.specs import price_of

    all_verdicts = [v for _, _, first, second in verdicts for v in (first, second)]
    calls = sum(v.attempts for v in all_verdicts)
    judge_prompt = sum(v.prompt_tokens for v in all_verdicts)
    judge_completion = sum(v.completion_tokens for v in all_verdicts)
    price = price_of(judge)
    judge_usage = {
        "model": judge.spec,
        "same_as_large": judge.spec == context.large().spec,
        "note": (
            f"the judge is M_L itself ({judge.spec}): it may prefer texts written like its own; "
            "set models.judge, or list another model you have in models.others"
            if judge.spec == context.large().spec
            else f"the judge ({judge.spec}) is not M_L ({context.large().spec})"
        ),
        "verdicts": len(all_verdicts),
        "calls": calls,
        "unparseable_verdicts": sum(1 for v in all_verdicts if v.winner is None),
        "retried_verdicts": sum(1 for v in all_verdicts if v.attempts > 1),
        "prompt_tokens": judge_prompt,
        "completion_tokens": judge_completion,
        "per_call": {
            "prompt_tokens": judge_prompt / calls if calls else None,
            "completion_tokens": judge_completion / calls if calls else None,
        },
        "cost_usd": price.cost(_usage(judge_prompt, judge_completion)) if price else None,
    }

    return judge_usage


def _document_details(
    items: list[HeldOut],
    methods: list[str],
    generations: dict[tuple[int, str], Generation],
    scores: dict[tuple[int, str], dict[str, float]],
    verdicts: list[tuple[HeldOut, str, StoredVerdict, StoredVerdict]],
) -> list[dict[str, Any]]:
    """Each held-out document with every method's text, rules, scores and both verdicts."""
    documents: list[dict[str, Any]] = []
    by_pair = {(item.document.id, b): (first, second) for item, b, first, second in verdicts}
    for item in items:
        doc = item.document
        documents.append(
            {
                "document_id": doc.id,
                "subject": doc.subject,
                "intent": item.intent,
                "real": doc.text,
                "generations": {m: generations[(doc.id, m)].text for m in methods if (doc.id, m) in generations},
                "rules": {
                    m: generations[(doc.id, m)].rules
                    for m in methods
                    if (doc.id, m) in generations and generations[(doc.id, m)].rules
                },
                "scores": {m: scores[(doc.id, m)] for m in methods if (doc.id, m) in scores},
                "verdicts": {
                    b: {
                        "agent_first": first.winner,
                        "agent_second": second.winner,
                        "outcome": combine(AGENT, first.winner, second.winner).outcome,
                        "raw": [first.raw, second.raw],
                    }
                    for (d, b), (first, second) in by_pair.items()
                    if d == doc.id
                },
            }
        )

    return documents


def _usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    from core.llm.base import Usage

    return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, seconds=0.0)


# -- the sender permutation ------------------------------------------------------------------


async def permutation(
    store: Store,
    paths: Paths,
    config: Config,
    profile_names: Sequence[str],
    *,
    limit: int | None = None,
    metric: str = "bertscore_f1",
    contexts: dict[str, DraftContext] | None = None,
    similarity: SimilarityModel | None = None,
    on_progress: ProgressCallback = ignore_progress,
) -> dict[str, Any]:
    """Each profile's agent on every profile's held-out intents, scored against the real texts.

    Row i is profile i's agent, column j profile j's documents; a cell is the mean `metric`.
    An agent that learned its person should score best on its own column's documents, but
    columns differ in difficulty (short mails are easier to match), so the matrix is also
    given column-normalised (each column divided by its sum), where row maxima compare fairly.
    """
    from core.drafting import DraftContext
    from core.similarity import shared_model

    names = list(dict.fromkeys(profile_names))
    if len(names) < 2:
        raise UsageError("the permutation needs at least two different profiles; name them with --profiles A B ...")
    if metric not in METRICS:
        raise UsageError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    profiles = [store.get_profile(name) for name in names]
    contexts = dict(contexts or {})
    for profile in profiles:
        contexts.setdefault(profile.name, DraftContext(paths, config, store, profile))
        why = contexts[profile.name].unavailable(AGENT)
        if why is not None:
            raise NotTrainedError(why)
    items = {profile.name: held_out(store, profile, limit or config.eval.limit) for profile in profiles}
    similarity = similarity or shared_model()

    total = sum(len(items[p.name]) for p in profiles) * len(profiles)
    done = 0
    failures: list[str] = []
    cells: list[list[list[float]]] = [[[] for _ in profiles] for _ in profiles]
    generated = 0
    texts_by_agent: dict[str, list[str]] = {}  # for pa's attribution matrix
    for row, agent_profile in enumerate(profiles):
        for column, doc_profile in enumerate(profiles):
            stored_as = AGENT if row == column else f"{AGENT}@{agent_profile.name}"
            for item in items[doc_profile.name]:
                on_progress(
                    Progress(
                        "eval:permutation", done, total, message=f"{agent_profile.name} agent on {doc_profile.name}"
                    )
                )
                try:
                    generation = await ensure_generation(
                        store, contexts[agent_profile.name], item, AGENT, stored_as=stored_as
                    )
                except NotTrainedError:
                    raise
                except PaError as err:
                    failures.append(f"{agent_profile.name} agent, document {item.document.id}: {err}")
                else:
                    generated += 0 if generation.reused else 1
                    texts_by_agent.setdefault(agent_profile.name, []).append(generation.text)
                    cells[row][column].append(
                        ensure_scores(store, similarity, item, stored_as, generation.text)[metric]
                    )
                done += 1
    on_progress(Progress("eval:permutation", done, total, errors=len(failures)))

    raw = [[(sum(values) / len(values)) if values else None for values in line] for line in cells]
    return {
        "kind": PERMUTATION_KIND,
        "version": REPORT_VERSION,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "profiles": names,
        "agents": {name: contexts[name].agent_info(AGENT).label for name in names},
        "metric": metric,
        "documents": {name: len(items[name]) for name in names},
        "rows": "agent of profile",
        "columns": "held-out documents of profile",
        "raw": raw,
        "counts": [[len(values) for values in line] for line in cells],
        **normalise(raw),
        "failures": failures,
        "generated": generated,
        "attribution": _attribution(store, names, texts_by_agent, config.eval.seed),
    }


def _attribution(store: Store, names: list[str], texts_by_agent: dict[str, list[str]], seed: int) -> dict[str, Any]:
    """pa's attribution matrix of the agents' drafts (core.style.style_eval), or why it cannot be made."""
    from core.style.style_eval import attribution_matrix, train_attributor

    attributor, why_not = train_attributor(store, names, seed)
    return attribution_matrix(attributor, names, texts_by_agent) if attributor is not None else {"unavailable": why_not}


def normalise(raw: list[list[float | None]]) -> dict[str, Any]:
    """Row- and column-normalised matrices and how often the diagonal holds the maximum."""
    size = len(raw)

    def share(value: float | None, total: float) -> float | None:
        return None if value is None or total == 0 else value / total

    row_sums = [sum(v for v in line if v is not None) for line in raw]
    column_sums = [sum(value for value in (raw[i][j] for i in range(size)) if value is not None) for j in range(size)]
    by_row = [[share(raw[i][j], row_sums[i]) for j in range(size)] for i in range(size)]
    by_column = [[share(raw[i][j], column_sums[j]) for j in range(size)] for i in range(size)]

    def rows_on_diagonal(matrix: list[list[float | None]]) -> int:
        return sum(1 for i in range(size) if _argmax(matrix[i]) == i)

    def columns_on_diagonal(matrix: list[list[float | None]]) -> int:
        return sum(1 for j in range(size) if _argmax([matrix[i][j] for i in range(size)]) == j)

    return {
        "row_normalised": by_row,
        "column_normalised": by_column,
        "diagonal": {
            "rows_max_on_diagonal_raw": rows_on_diagonal(raw),
            "rows_max_on_diagonal_column_normalised": rows_on_diagonal(by_column),
            "columns_max_on_diagonal": columns_on_diagonal(raw),
            "size": size,
            "chance": 1 / size if size else None,
        },
    }


def _argmax(values: Sequence[float | None]) -> int | None:
    present = [(v, i) for i, v in enumerate(values) if v is not None]
    if not present:
        return None
    best = max(v for v, _ in present)
    winners = [i for v, i in present if v == best]
    return winners[0] if len(winners) == 1 else None  # a tie for the maximum is no diagonal hit
