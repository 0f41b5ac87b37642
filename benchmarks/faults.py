"""Kill pa with SIGKILL at random points, resume, and count what went wrong.

    python benchmarks/faults.py [--n 3] [--seed 0] [--only import,distill-embedded,...]

Each scenario prepares a fresh installation (PA_HOME), runs the real `pa` command in its own
process, kills it with -9 after a random delay within the time a clean run takes, then runs
the same command again (`pa train --resume` for training) until it finishes, and checks:

- integrity: `PRAGMA integrity_check` and `foreign_key_check` of the store;
- rows lost: rows a clean reference run stores that the killed-and-resumed one lacks
  (documents, distillation outcomes, the trained agent, evaluation rows);
- rows duplicated: rows whose natural key (text hash, message id, document + stage,
  document + method) occurs twice;
- model calls repeated: answers the killed process had received whole that the resumed one
  asked for again (every backend is wrapped in the child to log the key of each call whose
  last chunk arrived: messages + options, so a retry with another seed is not a repeat);
- orphans: processes of the killed command still alive 30 s after the kill (a training
  child), `.partial` files and `running` rows left after the resume;
- resume failed: the second run did not end with exit 0.

Scenarios: import (a generated 3,000-message mbox), distill with the embedded SmolLM2, distill
against a real `llama_cpp.server` (the same GGUF behind the OpenAI-compatible API), train (the
tiny 2-layer model of tests/tiny_agent.py, real LoRA + GGUF export), eval (the tiny agent,
SmolLM2 as M_L and judge). The table is printed at the end; `--json` writes it too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SMALL_DISTILL = """\
[distill]
max_tokens = 96
max_attempts = 1
intent_temperatures = [0.7, 1.0, 1.2]
concurrency = 2
[embedded]
threads = 1
"""
SMALL_EVAL = """\
[drafting]
max_tokens = 24
rules_max_tokens = 32
retriever = "bm25"
few_shot_k = 1
[eval]
judge_attempts = 1
judge_max_tokens = 4
[embedded]
threads = 1
"""


# -- the child: `pa` with every backend's completed calls logged ------------------------------


class CallLog:
    """Wraps a backend; appends the key of every call whose final chunk arrived, durably."""

    def __init__(self, inner, file: Path):
        self.inner = inner
        self.file = file
        self.spec = inner.spec
        self.price = getattr(inner, "price", None)
        self.continues_answer = getattr(inner, "continues_answer", False)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def stream(self, messages, options=None):
        from core.llm.base import GenerationOptions

        options = options or GenerationOptions()
        key = hashlib.sha256(repr((self.spec, list(messages), options)).encode()).hexdigest()[:20]
        async for chunk in self.inner.stream(messages, options):
            if chunk.usage is not None:
                with open(self.file, "a", encoding="utf-8") as log:
                    log.write(key + "\n")
                    log.flush()
                    os.fsync(log.fileno())
            yield chunk


def child(calls: Path, argv: list[str]) -> int:
    import core.llm.specs as specs

    original = specs.open_backend
    specs.open_backend = lambda *a, **k: CallLog(original(*a, **k), calls)
    from core.cli import run

    return run(argv)


# -- the parent ---------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    runs: int = 0
    integrity_failures: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    calls_repeated: int = 0
    orphans: int = 0
    resume_failed: int = 0
    kill_points_s: list[float] = field(default_factory=list)
    done_at_kill: list[str] = field(default_factory=list)
    """What the killed run had stored (rows of the reference), and calls it had answered."""
    notes: list[str] = field(default_factory=list)


def env_for(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PA_HOME": str(home),
        "PYTHONPATH": str(REPO),
        "OMP_WAIT_POLICY": "PASSIVE",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def start(home: Path, calls: Path, argv: list[str]) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(calls), "--", *argv]
    log = (home / "child.log").open("ab")
    return subprocess.Popen(command, env=env_for(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def run_to_end(home: Path, calls: Path, argv: list[str], timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    process = start(home, calls, argv)
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        code = -9
    return code, time.monotonic() - started


GRACE_SECONDS = 30.0
"""How long a killed command's children get to stop by themselves before they count as orphans."""


def kill_at(home: Path, calls: Path, argv: list[str], delay: float) -> int:
    """Start, SIGKILL the pa process itself after `delay` s; returns its surviving processes."""
    process = start(home, calls, argv)
    try:
        process.wait(delay)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    # A training child notices its parent's death, finishes its step, checkpoints and exits:
    # give it GRACE_SECONDS to do so; what is still alive then is an orphan.
    deadline = time.monotonic() + GRACE_SECONDS
    survivors = survivors_of(home)
    while survivors and time.monotonic() < deadline:
        time.sleep(0.5)
        survivors = survivors_of(home)
    for pid in survivors:  # the benchmark cleans up what pa left, after counting it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(survivors)


def survivors_of(home: Path) -> list[int]:
    """Live processes whose environment names this installation (children of the killed pa)."""
    found = []
    marker = f"PA_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def store_of(home: Path) -> sqlite3.Connection:
    db = sqlite3.connect(home / "data" / "pa.sqlite3")
    db.row_factory = sqlite3.Row
    return db


def integrity_ok(home: Path) -> bool:
    with store_of(home) as db:
        return (
            db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            and not db.execute("PRAGMA foreign_key_check").fetchall()
        )


def leftovers(home: Path) -> int:
    """Partial files and rows still marked running after a resume that ended."""
    partial = sum(1 for path in (home / "data").rglob("*") if path.name.endswith(".partial"))
    with store_of(home) as db:
        running = db.execute("SELECT COUNT(*) FROM import_log WHERE status = 'running'").fetchone()[0]
    runs = sum(1 for status in (home / "data").rglob("status") if status.read_text().strip() == "running")
    return partial + running + runs


def repeated(first: Path, second: Path) -> int:
    done = set(first.read_text().split()) if first.exists() else set()
    again = second.read_text().split() if second.exists() else []
    return sum(1 for key in again if key in done)


def keyed(home: Path, sql: str) -> list[tuple]:
    with store_of(home) as db:
        return [tuple(row) for row in db.execute(sql).fetchall()]


# -- scenarios ----------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    argv: list[str]
    resume_argv: list[str]
    keys_sql: str
    """The natural keys of what this command stores (compared with the reference run's)."""
    prepare: object  # Callable[[Path], None]: fills a fresh installation
    timeout: float = 600.0


def generated_mbox(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(
                f"From ann@example.com Mon Mar  4 09:00:00 2024\nFrom: Ann Lee <ann@example.com>\nTo: bo@example.com\n"
                f"Subject: Shipment {i}\nMessage-ID: <faults-{i}@example.com>\n\n"
                f"Bo,\n\nShipment number {i} leaves on day {i % 7} and should arrive within {i % 11 + 2} days.\n"
                f"Let me know if dock {i % 13} can take it.\n\nThanks,\nAnn\n\n"
            )
    return path


def prepare_import(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("[corpus]\nbatch_size = 100\n", encoding="utf-8")
    generated_mbox(home / "mail.mbox", 3000)


def prepare_distill(extra_config: str):
    def prepare(home: Path) -> None:
        home.mkdir(parents=True)
        (home / "config.toml").write_text(SMALL_DISTILL + extra_config, encoding="utf-8")
        generated_mbox(home / "mail.mbox", 6)
        subprocess.run(
            [sys.executable, "-m", "core.cli", "import", str(home / "mail.mbox"), "--profile", "p"],
            env=env_for(home),
            check=True,
            capture_output=True,
        )

    return prepare


def prepare_train(home: Path) -> None:
    from core.paths import resolve_paths
    from core.store import Store
    from tests.tiny_agent import make_tiny_base, make_tokenizer_folder, seed_store, tiny_train_config

    home.mkdir(parents=True)
    base = make_tiny_base(home / "tiny-base", make_tokenizer_folder(home / "tokenizer"))
    train = tiny_train_config(base).model_copy(update={"epochs": 6})
    lines = [f"{key} = {json.dumps(value)}" for key, value in train.model_dump().items() if value is not None]
    (home / "config.toml").write_text("[train]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    store = Store.open(resolve_paths({"PA_HOME": str(home)}).store_file)
    try:
        seed_store(store)
    finally:
        store.close()


_TINY: dict[str, Path] = {}


def prepare_eval(home: Path) -> None:
    from core.paths import resolve_paths
    from tests.tiny_agent import build_tiny_agent, make_tokenizer_folder

    if "built" not in _TINY:
        built = Path(tempfile.mkdtemp(prefix="pa-faults-tiny-"))
        agent = build_tiny_agent(built / "home", make_tokenizer_folder(built / "tokenizer"))
        _TINY["built"] = built
        _TINY["agent"] = agent  # type: ignore[assignment]
    home.mkdir(parents=True)
    (home / "config.toml").write_text(SMALL_EVAL, encoding="utf-8")
    _TINY["agent"].install(resolve_paths({"PA_HOME": str(home)}))  # type: ignore[attr-defined]


DISTILL_KEYS = "SELECT document_id, stage FROM distillations"
"""Not the status: a server's sampling may differ between runs (a stage ok once, failed the next)."""


def blocked_by_a_failed_stage(home: Path) -> set[tuple[int, str]]:
    """(document, stage) keys distillation does not run because a stage they need is stored as
    failed: a model outcome (a server's sampling differs from run to run), not a loss."""
    from core.distill import REQUIRES

    with sqlite3.connect(home / "data" / "pa.sqlite3") as db:
        failed = set(db.execute("SELECT document_id, stage FROM distillations WHERE status = 'failed'"))
    documents = {document for document, _ in failed}
    return {
        (document, stage)
        for document in documents
        for stage, needs in REQUIRES.items()
        if any((document, needed) in failed for needed in needs)
    }


def ended_normally(home: Path, code: int) -> bool:
    """Exit 0, or 1 because every stage that ran failed (an outcome of the model, not of the kill)."""
    if code == 0:
        return True
    tail = (home / "child.log").read_text(errors="replace")[-2000:]
    return code == 1 and "every stage that ran failed" in tail


def scenarios(server_url: str | None) -> list[Scenario]:
    found = [
        Scenario(
            "import",
            ["import", "{home}/mail.mbox", "--profile", "p", "--json"],
            ["import", "{home}/mail.mbox", "--profile", "p", "--json"],
            "SELECT content_hash FROM documents",
            prepare_import,
        ),
        Scenario(
            "distill (embedded)",
            ["distill", "--profile", "p", "--limit", "3", "--json"],
            ["distill", "--profile", "p", "--limit", "3", "--json"],
            DISTILL_KEYS,
            prepare_distill(""),
        ),
        Scenario(
            "train",
            ["train", "--profile", "tiny", "--kind", "agent", "--quant", "q8_0", "--json"],
            ["train", "--profile", "tiny", "--kind", "agent", "--quant", "q8_0", "--resume", "--json"],
            "",
            prepare_train,
        ),
        Scenario(
            "eval",
            ["eval", "--profile", "tiny", "--limit", "1", "--baselines", "small", "--json"],
            ["eval", "--profile", "tiny", "--limit", "1", "--baselines", "small", "--json"],
            "SELECT document_id, method, model FROM eval_generations UNION ALL "
            "SELECT document_id, method_a || '>' || method_b, judge FROM eval_verdicts",
            prepare_eval,
        ),
    ]
    if server_url:
        from tests.test_backend_openai import MODEL_ALIAS

        server = f'[models]\nlarge = "openai:{MODEL_ALIAS}"\n[openai]\nbase_url = "{server_url}"\n'
        found.insert(
            2,
            Scenario(
                "distill (llama_cpp.server)",
                ["distill", "--profile", "p", "--limit", "1", "--json"],
                ["distill", "--profile", "p", "--limit", "1", "--json"],
                DISTILL_KEYS,
                prepare_distill(server),
            ),
        )
    return found


def agent_count(home: Path) -> int:
    return sum(1 for _ in (home / "data" / "profiles").rglob("manifest.json"))


def fill(argv: list[str], home: Path) -> list[str]:
    return [part.replace("{home}", str(home)) for part in argv]


def measure(scenario: Scenario, n: int, rng: random.Random, work: Path, keep_lost: Path | None = None) -> Row:
    row = Row(scenario.name)
    template = work / ("template-" + "".join(ch if ch.isalnum() else "-" for ch in scenario.name))
    scenario.prepare(template)  # type: ignore[operator]
    reference = work / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    shutil.copytree(template, reference)
    code, seconds = run_to_end(reference, reference / "calls-ref", fill(scenario.argv, reference), scenario.timeout)
    reference_code = code
    if not ended_normally(reference, code):
        tail = (reference / "child.log").read_text(errors="replace").strip().splitlines()[-3:]
        row.notes.append(f"reference run failed (exit {code}): {' | '.join(tail)}")
        return row
    expected = keyed(reference, scenario.keys_sql) if scenario.keys_sql else []
    expected_agents = agent_count(reference)
    row.notes.append(f"a clean run takes {seconds:.1f} s and exits {reference_code}, storing {len(expected)} rows")
    for _ in range(n):
        home = work / f"run-{rng.randrange(10**9)}"
        shutil.copytree(template, home)
        delay = rng.uniform(0.3, 0.95) * seconds
        row.kill_points_s.append(round(delay, 1))
        first, second = home / "calls-1", home / "calls-2"
        row.orphans += kill_at(home, first, fill(scenario.argv, home), delay)
        stored = (
            len(keyed(home, scenario.keys_sql)) if scenario.keys_sql and (home / "data" / "pa.sqlite3").exists() else 0
        )
        answered = len(first.read_text().split()) if first.exists() else 0
        row.done_at_kill.append(
            f"{stored}/{len(expected)} rows, {answered} calls" if scenario.keys_sql else f"{answered} calls"
        )
        # `pa train --resume` continues the killed run whatever the moment of the kill (from its
        # checkpoint, from its first step when it had none, or only reports its agent when the
        # export had finished): a failed resume counts as one, no fresh run hides it.
        code, _ = run_to_end(home, second, fill(scenario.resume_argv, home), scenario.timeout)
        row.runs += 1
        row.resume_failed += not ended_normally(home, code)
        row.integrity_failures += not integrity_ok(home)
        if scenario.keys_sql:
            got = keyed(home, scenario.keys_sql)
            missing = set(expected) - set(got)
            blocked = missing & blocked_by_a_failed_stage(home) if scenario.keys_sql == DISTILL_KEYS else set()
            lost = sorted(missing - blocked)
            if blocked:
                row.notes.append(
                    f"not run after the kill at {delay:.1f} s because an earlier stage failed on the model's answer "
                    f"(stored as failed, not lost): {sorted(blocked)[:6]}"
                )
            row.rows_lost += len(lost)
            if lost:
                row.notes.append(f"lost after the kill at {delay:.1f} s: {lost[:6]}")
                if keep_lost is not None:
                    shutil.copytree(home, keep_lost / home.name)
                    row.notes.append(f"its installation is kept in {keep_lost / home.name}")
            row.rows_duplicated += len(got) - len(set(got))
        else:
            row.rows_lost += max(0, expected_agents - agent_count(home))
            row.rows_duplicated += max(0, agent_count(home) - expected_agents)
        row.calls_repeated += repeated(first, second)
        row.orphans += leftovers(home)
        shutil.rmtree(home, ignore_errors=True)
    return row


def start_server(work: Path):
    """llama_cpp.server with the embedded GGUF and the context the embedded backend has (4096).

    The tests' server (tests/test_backend_openai.start_llama_server), with one thread and
    `--interrupt_requests False`: by default a second request cuts the stream of the first.
    """
    from tests.test_backend_openai import start_llama_server

    return start_llama_server(
        work / "llama-server.log",
        ready_within=180,
        n_ctx=4096,
        threads=1,
        extra_args=("--interrupt_requests", "False"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3, help="kills per scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names (prefixes): import,distill,train,eval"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--keep-lost", type=Path, default=None, help="copy each installation that lost rows here")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child is not None:
        sys.exit(child(args.child, [a for a in rest if a != "--"]))

    rng = random.Random(args.seed)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    work = Path(tempfile.mkdtemp(prefix="pa-faults-"))
    server = None
    if not wanted or any("server" in w or w == "distill" for w in wanted):
        server = start_server(work)
    rows = []
    try:
        for scenario in scenarios(server.base_url if server else None):
            if wanted and not any(scenario.name.startswith(w) or w in scenario.name for w in wanted):
                continue
            started = time.monotonic()
            row = measure(scenario, args.n, rng, work, args.keep_lost)
            row.notes.append(f"{time.monotonic() - started:.0f} s for the scenario")
            rows.append(row)
            print(f"... {row.scenario}: done", file=sys.stderr, flush=True)
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
        if "built" in _TINY:
            shutil.rmtree(_TINY["built"], ignore_errors=True)
    columns = (
        "runs",
        "integrity_failures",
        "rows_lost",
        "rows_duplicated",
        "calls_repeated",
        "orphans",
        "resume_failed",
    )
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    print(f"{'scenario':<28}" + "".join(f"{c.replace('_', ' '):>20}" for c in columns))
    for row in rows:
        print(f"{row.scenario:<28}" + "".join(f"{getattr(row, c):>20}" for c in columns))
    for row in rows:
        print(
            f"  {row.scenario}: killed at {row.kill_points_s} s, having stored {row.done_at_kill}; "
            + "; ".join(row.notes)
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
