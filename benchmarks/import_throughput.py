"""How fast `pa import` reads a big mbox, next to a bare stdlib mailbox+email parse of it.

Builds mboxes of N messages from the sample corpus (each copy made unique by its Message-ID
and one line of text, so nothing is dropped as a duplicate), then runs each reader in its own
process and prints messages/s, MB/s and peak RSS side by side. Two sizes show whether memory
grows with the file.

    python benchmarks/import_throughput.py            # 20k and 100k messages
    python benchmarks/import_throughput.py --sizes 5000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "sample-corpus"

PA_IMPORT = """
import json, resource, sys, time
from pathlib import Path
from core.config import CorpusConfig
from core.corpus import ImportOptions, import_corpus
from core.store import Store
store = Store.open(Path(sys.argv[2]) / "pa.sqlite3")
started = time.perf_counter()
report = import_corpus(store, Path(sys.argv[1]), ImportOptions(profile="bench", format="mbox"))
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "messages": report.messages_seen,
                  "imported": report.imported, "rss_kb": usage.ru_maxrss}))
"""

STDLIB_PARSE = """
import json, mailbox, resource, sys, time
started = time.perf_counter()
count = 0
for message in mailbox.mbox(sys.argv[1], create=False):
    for part in message.walk():
        if part.get_content_maintype() == "text":
            part.get_payload(decode=True)
    message["From"], message["Subject"], message["Message-ID"]
    count += 1
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "messages": count, "imported": None,
                  "rss_kb": usage.ru_maxrss}))
"""


def build_mbox(path: Path, count: int) -> int:
    """Write `count` messages made from the sample corpus; return the file size."""
    samples = [p.read_bytes().replace(b"\r\n", b"\n") for p in sorted(SAMPLE.rglob("*.eml"))]
    with open(path, "wb") as out:
        for index in range(count):
            raw = samples[index % len(samples)]
            head, _, body = raw.partition(b"\n\n")
            head = re.sub(rb"Message-ID: <[^>]*>", f"Message-ID: <bench-{index}@example>".encode(), head)
            if b"Content-Transfer-Encoding: 8bit" in head:
                body = f"Note {index}: ".encode() + body  # unique text, so no copy is a duplicate
            body = re.sub(rb"(?m)^From ", b">From ", body)
            out.write(b"From maya@lindqvist-studio.example Mon Mar  4 09:00:00 2024\n" + head + b"\n\n" + body + b"\n")
    return path.stat().st_size


def run(script: str, *args: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"benchmark step failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pa-bench-") as tmp:
        for size in args.sizes:
            mbox = Path(tmp) / f"{size}.mbox"
            megabytes = build_mbox(mbox, size) / 1e6
            home = Path(tmp) / f"home-{size}"
            home.mkdir()
            for name, script, extra in (
                ("pa import", PA_IMPORT, [str(home)]),
                ("stdlib mailbox+email", STDLIB_PARSE, []),
            ):
                result = run(script, str(mbox), *extra)
                rows.append((size, megabytes, name, result))
    # Wall-clock rates depend on what else the machine runs; the CPU column does not (it counts
    # the whole process, interpreter start-up included, so it slightly understates the rate).
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'messages':>9} {'MB':>7}  {'reader':<22} {'msg/s':>8} {'MB/s':>6} {'msg/CPU-s':>10} "
        f"{'peak RSS MB':>12} {'imported':>9}"
    )
    for size, megabytes, name, result in rows:
        seconds = result["seconds"]
        imported = "" if result["imported"] is None else str(result["imported"])
        print(
            f"{size:>9} {megabytes:>7.1f}  {name:<22} {result['messages'] / seconds:>8,.0f} "
            f"{megabytes / seconds:>6.2f} {result['messages'] / result['cpu']:>10,.0f} "
            f"{result['rss_kb'] / 1024:>12.1f} {imported:>9}"
        )


if __name__ == "__main__":
    main()
