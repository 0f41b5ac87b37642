"""A simulated user edits every draft into their own form (the PRELUDE protocol, offline): does
pa get closer to what they send as it learns from their edits?

    python benchmarks/edit_loop.py [--rounds 20] [--update-every 5] [--conditions none,facts,rules,update]
                                   [--seeds 1] [--home DIR] [--out DIR]

The user is a script with hidden, deterministic preferences (`ScriptedUser`): the greeting
"Hi <first name>,", the closing "Cheers,\\nJeff", no exclamation marks, a body of 25-70 words
(longer: the last sentences go; shorter: fixed sentences are added), and banned words and
phrases replaced by preferred ones ("regarding" -> "about", "Thank you" -> "Thanks", "I hope
this email finds you well." -> nothing, ...). pa never sees these preferences, only the edits.

Each round pa drafts one intent (`Workspace.draft` without the naive draft: the agent's rules,
merged with the rules learned from edits of similar intents, then M_L's final; the embedded
SmolLM2-135M is both M_L and the agent's base), the user edits the final into what they send,
and the round costs the character-level Levenshtein distance from pa's final to the sent text.
The same intents, in the same order, with the same sampling seed, for three conditions:

* none:   no learning: nothing is recorded, no edit rules are retrieved;
* facts:  the sent text is recorded (`Workspace.record_sent`: pa's facts count it) and nothing
          else: no model learns from the edit, no edit rules (what pa measures by code alone);
* rules:  the sent text is recorded (`Workspace.record_sent`: pa's facts count it), M_L
          distils rules from the edit at once (`Workspace.learn_from_edits`), later drafts
          retrieve them;
* update: as `rules`, and every `--update-every` rounds `pa train --update` continues the
          agent's adapter on the learned edits (`Workspace.start_training(update=True)`),
          the new version drafting from the next round on. Until its first update it is the
          rules condition (same agent, seed, edits): it starts from a copy of that condition's
          installation after round `--update-every` and shares those rounds' figures.

Setup (once per --home): a profile of the tiny agent fixture's 8 distilled documents
(tests/tiny_agent.py, a writer who signs "Jeff" with no greeting) and a first agent trained on
them from the SmolLM2 base (pa's default settings, 2 epochs); each condition works in its own
copy of that installation. pa's final check (`drafting.check_final`) is on, as installed: it
repairs the final to the habits pa measured, from the 8 imported texts in every condition and,
where pa learns, from the texts the user sent too (their last 3 agreeing on a greeting or
closing win over the older habit: `ProfileFacts.latest`). Drafts and rules get at most 200 tokens (`drafting.max_tokens`, `rules_max_tokens`). When pa
shows no draft (its model only echoed the prompt, twice) the user writes the whole text: the
round costs its length, and there is no edit to learn from.

With `--seeds N` the whole protocol runs N times, with the sampling seeds 0..N-1 (one 135M
model's texts swing by hundreds of characters from one round to the next, so one seed's ratio
says little); the ratio is then the one of the distances summed over the seeds.

Printed: each round's distance per condition, the cumulative distances after every round and
the ratio to no learning; written: edit_loop.png (cumulative distance per round) and
edit_loop.json (every final, sent text and distance) in --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROFILE = "writer"
CONDITIONS = ("none", "facts", "rules", "update")

# (intent, recipient, subject): recurring kinds of message, as a working week brings them.
INTENTS = [
    ("- tell Sue the Monday call moved to 3pm", "sue.mara@enron.com", "Monday call"),
    ("- ask Paul to send the draft filing by Thursday", "paul.kaufman@enron.com", "draft filing"),
    ("- thank Karen for the meeting summary", "karen.denne@enron.com", "summary"),
    ("- tell Jim the CPUC numbers are attached", "james.steffes@enron.com", "CPUC numbers"),
    ("- ask Mona to move Friday's meeting to next week", "mona.petrochko@enron.com", "Friday meeting"),
    ("- tell Susan the report slips to Wednesday", "susan.scott@enron.com", "report"),
    ("- ask Sue for the notes from the regulatory call", "sue.mara@enron.com", "call notes"),
    ("- thank Paul for reviewing the filing", "paul.kaufman@enron.com", "filing"),
    ("- tell Karen the press release needs one more review", "karen.denne@enron.com", "press release"),
    ("- ask Jim to approve the budget before Friday", "james.steffes@enron.com", "budget"),
    ("- tell Mona the Tuesday call is cancelled", "mona.petrochko@enron.com", "Tuesday call"),
    ("- ask Susan to send the contract draft", "susan.scott@enron.com", "contract"),
    ("- thank Sue for covering the hearing", "sue.mara@enron.com", "hearing"),
    ("- tell Paul the filing deadline moved to Monday", "paul.kaufman@enron.com", "deadline"),
    ("- ask Karen to set up a call with the press office", "karen.denne@enron.com", "press call"),
    ("- tell Jim the numbers in the report changed", "james.steffes@enron.com", "report numbers"),
    ("- thank Mona for the quick turnaround on the memo", "mona.petrochko@enron.com", "memo"),
    ("- ask Susan whether the meeting can start at 10", "susan.scott@enron.com", "meeting time"),
    ("- tell Sue the draft comments are due tomorrow", "sue.mara@enron.com", "comments"),
    ("- ask Paul to join the Thursday call", "paul.kaufman@enron.com", "Thursday call"),
]

# -- the simulated user ------------------------------------------------------------------------

GREETING_LINE = re.compile(r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings)\b[^\n]{0,40}$", re.I)
CLOSING_LINE = re.compile(
    r"^\s*(best|regards|best regards|kind regards|warm regards|warmly|sincerely|yours|thanks|thank you|"
    r"many thanks|cheers|all the best|take care)\b[^.?!]{0,25},?\s*$",  # a sign-off, not a sentence
    re.I,
)
DROPPED_LINE = re.compile(
    r"^\s*(subject\s*:.*|\[[^\]]*\]|<[^>]*>|-{3,}|\*{3,}|p\.?s\..*|"
    r"(here'?s|here is|this is) (a|an|the|my) [^\n]{0,40}(version|e-?mail|draft|message)[^\n]*:)\s*$",
    re.I,
)
"""Lines nobody sends: a subject line, placeholders, separators, a P.S., "Here's a rewritten version:"."""
SENTENCE_END = re.compile(r"(?<=[.?])\s+")
FILLERS = ("Let me know if anything is unclear.", "Happy to talk it through.", "Thanks for your help with this.")


@dataclass(frozen=True)
class ScriptedUser:
    """Hidden, deterministic preferences; `edit` turns any draft into what this person sends."""

    name: str = "Jeff"
    closing: str = "Cheers,\nJeff"
    min_words: int = 25
    max_words: int = 70
    phrasings: tuple[tuple[str, str], ...] = (
        (r"I hope (this|the) (e-?mail|message|note) finds you well[.,!]?\s*", ""),
        (r"I hope you are (doing )?well[.,!]?\s*", ""),
        (r"I am writing to\b", "I want to"),
        (r"\bregarding\b", "about"),
        (r"\bRegarding\b", "About"),
        (r"\bThank you\b", "Thanks"),
        (r"\bthank you\b", "thanks"),
        (r"\bAdditionally\b", "Also"),
        (r"\badditionally\b", "also"),
        (r"\bHowever\b", "But"),
        (r"\butilize\b", "use"),
        (r"\bASAP\b", "soon"),
        (r"\bkindly\b", "please"),
        (r"\bPlease do not hesitate to\b", "Feel free to"),
    )

    def greeting(self, recipient: str | None) -> str:
        first = (recipient or "").split("@")[0].split(".")[0]
        return f"Hi {first.capitalize()}," if first else "Hi,"

    def edit(self, draft: str, recipient: str | None) -> str:
        """The text this person sends after editing `draft`."""
        lines = [line.rstrip() for line in draft.strip().splitlines() if not DROPPED_LINE.match(line)]
        lines = [line for line in lines if not GREETING_LINE.match(line)]  # their own greeting goes on top
        tail = [i for i, line in enumerate(lines) if CLOSING_LINE.match(line)]
        if tail:  # the first closing: it and everything below it go (their own closing goes at the end)
            lines = lines[: tail[0]]
        while lines and (not lines[-1].strip() or lines[-1].strip(" -~") == self.name):  # a bare signature
            lines.pop()
        paragraphs = [" ".join(p.split()) for p in "\n".join(lines).split("\n\n")]
        paragraphs = [self._rephrase(p) for p in paragraphs if p.strip()]
        body = self._fit_length([p for p in paragraphs if p])
        return f"{self.greeting(recipient)}\n\n" + "\n\n".join(body) + f"\n\n{self.closing}"

    def _rephrase(self, text: str) -> str:
        for pattern, preferred in self.phrasings:
            text = re.sub(pattern, preferred, text)
        text = text.replace("!", ".")
        return " ".join(text.split())

    def _fit_length(self, paragraphs: list[str]) -> list[str]:
        sentences = [[s for s in SENTENCE_END.split(p) if s] for p in paragraphs]

        def words() -> int:
            return sum(len(s.split()) for para in sentences for s in para)

        while words() > self.max_words and sum(len(p) for p in sentences) > 1:
            last = max(i for i, p in enumerate(sentences) if p)
            sentences[last].pop()
        if words() > self.max_words:  # one long sentence: cut it
            only = next(p for p in sentences if p)
            only[0] = " ".join(only[0].split()[: self.max_words]).rstrip(",;:") + "."
        fillers = iter(FILLERS)
        while words() < self.min_words:
            filler = next(fillers, None)
            if filler is None:
                break
            if not sentences or not any(sentences):
                sentences = [[]]
            sentences[-1].append(filler)
        return [" ".join(p) for p in sentences if p]


def levenshtein(a: str, b: str) -> int:
    """Character edits (insert, delete, substitute) that turn `a` into `b`."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


# -- setup ---------------------------------------------------------------------------------------


def setup_home(home: Path) -> None:
    """The base profile and its first agent (SmolLM2 base, pa's defaults but 2 epochs), once per home."""
    from core.agents import latest_agent
    from core.config import Config, TrainConfig
    from core.paths import resolve_paths
    from core.store import Store
    from finetune.runs import prepare_run
    from finetune.train import train_run
    from tests.tiny_agent import seed_store

    os.environ["PA_HOME"] = str(home)
    paths = resolve_paths()
    if latest_agent(paths, PROFILE) is not None:
        return
    started = time.monotonic()
    with Store.open(paths.store_file) as store:
        if store.find_profile(PROFILE) is None:
            seed_store(store, PROFILE)
        run = prepare_run(paths, store, Config(train=TrainConfig(verify_rules=False, epochs=2)), PROFILE)
    if train_run(run, paths=paths) is None:
        raise SystemExit("the first agent's training stopped before its export")
    print(f"setup: first agent trained and exported in {time.monotonic() - started:.0f} s", flush=True)


def copy_home(source: Path, target: Path) -> None:
    """A condition's own installation: a copy of `source` (store, agents), sharing its models cache."""
    shutil.rmtree(target, ignore_errors=True)
    cache = Path("data") / "cache"
    shutil.copytree(source, target, ignore=lambda folder, names: ["cache"] if Path(folder) == source / "data" else [])
    if (source / cache).exists():
        (target / cache).symlink_to((source / cache).resolve())


# -- the loop ------------------------------------------------------------------------------------


@dataclass
class Round:
    number: int
    intent: str
    agent: str
    final: str
    sent: str
    distance: int
    edit_rules: int
    seconds: float
    learned: dict[str, Any] = field(default_factory=dict)
    update: dict[str, Any] | None = None
    rejected: bool = False
    """pa showed no draft (its model only echoed the prompt): the user wrote the whole text."""
    shared_with: str | None = None
    """Set when the round is another condition's very same round (identical until this one's first update)."""


async def draft_final(workspace, request) -> tuple[str | None, Any, str, int]:
    """pa's final (None when pa refused to show one: the model only echoed the prompt, twice)."""
    from core.drafting import DraftRejected, DraftTranscript

    start = workspace.draft(PROFILE, request, naive=False)
    transcript = DraftTranscript()
    try:
        async for event in start.events:
            transcript.apply(event)
    except DraftRejected:
        return None, transcript, start.agent.label, len(transcript.edit_rules)
    return transcript.text("final") or None, transcript, start.agent.label, len(transcript.edit_rules)


def train_update(workspace) -> dict[str, Any]:
    """`pa train --update` through the training process, as the CLI runs it."""
    from core.errors import UsageError
    from finetune.transcript import Failed, Finished, TrainingTranscript

    started = time.monotonic()
    try:
        run, process = workspace.start_training(PROFILE, update=True)
    except UsageError as err:  # nothing learned since the last update: say so, go on
        return {"skipped": str(err)}
    transcript = TrainingTranscript(run=run.folder)
    for _ in workspace.follow_training(run, process, transcript):
        pass
    process.wait()
    final = transcript.terminal
    if not isinstance(final, Finished):
        message = final.message if isinstance(final, Failed) else f"exit {process.returncode}"
        raise SystemExit(f"train --update failed: {message} (see {run.folder / 'train.log'})")
    agent = workspace.current_agent(PROFILE)
    return {
        "agent": agent.label if agent else None,
        "seconds": round(time.monotonic() - started, 1),
        "steps": (agent.manifest.get("training") or {}).get("steps") if agent else None,
        "examples": (agent.manifest.get("dataset") or {}).get("train") if agent else None,
    }


def open_workspace(home: Path, condition: str, seed: int = 0, regenerations: int | None = None):
    from core.config import load_config
    from core.paths import resolve_paths
    from core.workspace import Workspace

    os.environ["PA_HOME"] = str(home)
    paths = resolve_paths()
    config = load_config(paths)
    # Learning is called below, timed; texts of 25-70 words need far fewer tokens than the defaults.
    drafting = {
        "check_final": True,
        "seed": seed,
        "learn_from_edits": False,
        "max_tokens": 200,
        "rules_max_tokens": 200,
    }
    if condition in ("none", "facts"):
        drafting["edit_rules_k"] = 0
    if regenerations is not None:
        drafting["check_regenerations"] = regenerations
    config = config.model_copy(update={"drafting": config.drafting.model_copy(update=drafting)})
    return Workspace.open(paths, config)


async def run_condition(
    condition: str,
    home: Path,
    rounds: range,
    update_every: int,
    user: ScriptedUser,
    snapshot: tuple[int, Path] | None = None,
    seed: int = 0,
    regenerations: int | None = None,
) -> list[Round]:
    """Rounds `rounds` of one condition in the installation at `home`; with `snapshot` (round,
    folder), a copy of the installation is taken after that round (the update condition's start)."""
    from core.drafting import DraftRequest

    results: list[Round] = []
    workspace = open_workspace(home, condition, seed, regenerations)
    try:
        if condition == "update" and rounds.start > 1 and (rounds.start - 1) % update_every == 0:
            update = train_update(workspace)  # the update due after the shared rounds
            print(f"update after round {rounds.start - 1}: {update}", flush=True)
        for number in rounds:
            intent, recipient, subject = INTENTS[number - 1]
            started = time.monotonic()
            request = DraftRequest(intent, recipient=recipient, subject=subject)
            final, transcript, agent, used = await draft_final(workspace, request)
            sent = user.edit(final or "", recipient)  # no draft: the user writes it all
            item = Round(number, intent, agent, final or "", sent, levenshtein(final or "", sent), used, 0.0)
            item.rejected = final is None
            if condition != "none" and final is not None:
                draft_id = workspace.save_draft(PROFILE, request, transcript, agent=agent)
                workspace.record_sent(PROFILE, draft_id, sent, source="feedback")
                if condition != "facts":
                    learned = await workspace.learn_from_edits(PROFILE)
                    item.learned = {
                        "learned": learned.learned,
                        "failed": learned.failed,
                        "unchanged": learned.unchanged,
                    }
            if condition == "update" and number % update_every == 0 and number < rounds.stop - 1:
                item.update = train_update(workspace)
            item.seconds = round(time.monotonic() - started, 1)
            results.append(item)
            note = f" update: {item.update}" if item.update else ""
            print(
                f"{condition:6} round {number:2}: distance {item.distance:4}{' (no draft)' if item.rejected else ''} "
                f"edit rules {used} "
                f"learned {item.learned or '-'} {item.seconds:.0f} s{note}",
                flush=True,
            )
            if snapshot and number == snapshot[0]:
                workspace.close()
                copy_home(home, snapshot[1])
                workspace = open_workspace(home, condition, seed, regenerations)
    finally:
        workspace.close()
    return results


async def run_all(
    conditions: list[str], root: Path, rounds: int, update_every: int, seed: int = 0, regenerations: int | None = None
) -> dict[str, list[Round]]:
    """Each condition in its own copy of the base installation. The update condition is the rules
    condition until its first update (same agent, seed and edits): it starts from a copy of the
    rules condition's installation after round `update_every`, and shares those rounds' figures."""
    user = ScriptedUser()
    base = root / "base"
    results: dict[str, list[Round]] = {}
    fork = root / "fork"
    shared = "rules" in conditions and "update" in conditions and update_every < rounds
    for condition in conditions:
        home = root / condition
        if condition == "update" and shared:
            copy_home(fork, home)
            done = [replace(item, shared_with="rules", update=None) for item in results["rules"][:update_every]]
            results[condition] = done + await run_condition(
                condition,
                home,
                range(update_every + 1, rounds + 1),
                update_every,
                user,
                seed=seed,
                regenerations=regenerations,
            )
            continue
        copy_home(base, home)
        snapshot = (update_every, fork) if condition == "rules" and shared else None
        results[condition] = await run_condition(
            condition, home, range(1, rounds + 1), update_every, user, snapshot, seed, regenerations
        )
    return results


def cumulative_of(results: dict[str, list[Round]]) -> dict[str, list[int]]:
    rounds = min(len(r) for r in results.values())
    cumulative: dict[str, list[int]] = {}
    for name, items in results.items():
        total = 0
        cumulative[name] = []
        for item in items[:rounds]:
            total += item.distance
            cumulative[name].append(total)
    return cumulative


def report(
    by_seed: dict[int, dict[str, list[Round]]], out: Path, load: tuple[list[str], list[str]], seconds: float
) -> None:
    per_seed = {seed: cumulative_of(results) for seed, results in by_seed.items()}
    names = list(next(iter(by_seed.values())))
    rounds = min(len(c) for cumulative in per_seed.values() for c in cumulative.values())
    for seed, results in by_seed.items():
        cumulative = per_seed[seed]
        print(f"\nseed {seed}: character Levenshtein distance, pa's final -> the text the user sent; {rounds} rounds")
        print("round | " + " | ".join(f"{n} (cum.)" for n in names))
        for i in range(rounds):
            print(f"{i + 1:5} | " + " | ".join(f"{results[n][i].distance:4} ({cumulative[n][i]:5})" for n in names))
    cumulative = {name: [sum(per_seed[s][name][i] for s in per_seed) for i in range(rounds)] for name in names}
    base = cumulative.get("none", [0])[-1]
    seeds = ", ".join(str(s) for s in per_seed)
    print(f"\ncumulative after the last round, summed over seeds {seeds} (each seed's in brackets):")
    for name in names:
        ratio = f"{cumulative[name][-1] / base:.2f} of no learning" if base and name != "none" else ""
        each = " ".join(str(per_seed[s][name][-1]) for s in per_seed)
        print(f"  {name:6} {cumulative[name][-1]:6} ({each})  {ratio}")
    print(f"load {' '.join(load[0])} -> {' '.join(load[1])}; cpus {os.cpu_count()}; {seconds / 60:.1f} min")
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "metric": "character Levenshtein distance, final -> sent",
        "cumulative": cumulative,
        "seeds": {
            str(seed): {
                "cumulative": per_seed[seed],
                "rounds": {name: [item.__dict__ for item in items] for name, items in results.items()},
            }
            for seed, results in by_seed.items()
        },
        "load": load,
        "seconds": round(seconds, 1),
    }
    (out / "edit_loop.json").write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {
        "none": "no learning",
        "facts": "sent texts and edited phrasings in pa's facts",
        "rules": "+ edit rules",
        "update": "+ train --update",
    }
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for name in names:
        axis.plot(range(1, rounds + 1), cumulative[name], marker="o", markersize=3, label=labels.get(name, name))
    axis.set_xlabel("round")
    axis.set_ylabel(f"cumulative edit distance (characters, {len(per_seed)} seed(s))")
    axis.set_title("Simulated user: cost of editing pa's drafts")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "edit_loop.png", dpi=120)
    print(f"wrote {out / 'edit_loop.png'} and {out / 'edit_loop.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--update-every", type=int, default=5)
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument(
        "--home", type=Path, default=None, help="folder for the installations (the first agent is kept for reruns)"
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "pa-edit-loop")
    parser.add_argument("--seeds", type=int, default=1, help="run the protocol with sampling seeds 0..N-1")
    parser.add_argument(
        "--regenerations", type=int, default=None, help="drafting.check_regenerations (default: pa's default)"
    )
    args = parser.parse_args()
    conditions = [c for c in CONDITIONS if c in args.conditions.split(",")]
    if set(args.conditions.split(",")) - set(CONDITIONS) or not 1 <= args.rounds <= len(INTENTS):
        raise SystemExit(f"--conditions from {', '.join(CONDITIONS)}; --rounds 1..{len(INTENTS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    root = args.home or Path(tempfile.mkdtemp(prefix="pa-edit-loop-"))
    print(f"installations under {root}", flush=True)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.monotonic()
    setup_home(root / "base")
    by_seed = {}
    for seed in range(args.seeds):
        print(f"seed {seed}", flush=True)
        by_seed[seed] = asyncio.run(run_all(conditions, root, args.rounds, args.update_every, seed, args.regenerations))
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    report(by_seed, args.out, (load_before, load_after), time.monotonic() - started)


if __name__ == "__main__":
    main()
