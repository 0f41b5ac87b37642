"""llama.cpp's own Hugging Face -> GGUF converters, run in a subprocess with their own gguf-py.

`scripts/install.sh` keeps `convert_hf_to_gguf.py`, `convert_lora_to_gguf.py`, their
`conversion/` package and their `gguf-py/` from the very llama-cpp-python source archive it
builds the runtime from, under `<venv>/share/pa/llama.cpp` (or `PA_LLAMA_CPP_CONVERTERS`). So
an agent is converted by the same llama.cpp version that later loads it, for every
architecture that version supports, with llama.cpp's tokenizer, chat-template and tensor
handling rather than a hand-written copy.

The converters need their matching gguf-py, not the `gguf` release pa reads GGUFs with, so
they run in a child process with that gguf-py first on PYTHONPATH. One child runs a list of
conversions (`python -m finetune.llama_converters JOBS.json`): torch and transformers are
imported once per export instead of once per file.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.errors import PaError

CONVERTERS_ENV = "PA_LLAMA_CPP_CONVERTERS"
INFO_FILE = "pa_converters.json"
HF_SCRIPT = "convert_hf_to_gguf.py"
LORA_SCRIPT = "convert_lora_to_gguf.py"
ERROR_MARK = "PA_CONVERTER_ERROR: "


def converters_dir() -> Path:
    """Where install.sh put the converters; a PaError saying how to get them when absent."""
    configured = os.environ.get(CONVERTERS_ENV)
    folder = Path(configured).expanduser() if configured else Path(sys.prefix) / "share" / "pa" / "llama.cpp"
    if not (folder / HF_SCRIPT).is_file() or not (folder / "gguf-py" / "gguf").is_dir():
        where = f"{CONVERTERS_ENV}={configured}" if configured else str(folder)
        raise PaError(
            f"llama.cpp's GGUF converters are not installed ({where} has no {HF_SCRIPT} and gguf-py); "
            "re-run scripts/install.sh, or point PA_LLAMA_CPP_CONVERTERS at a llama.cpp source folder"
        )
    return folder


def converters_version() -> dict[str, str | None]:
    """What `pa doctor` shows: llama-cpp-python/llama.cpp/gguf-py versions the converters come from."""
    folder = converters_dir()
    info_file = folder / INFO_FILE
    info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}
    return {"folder": str(folder), **info}


def describe_converters() -> tuple[bool, str]:
    """(ok, one line) for `pa doctor`."""
    try:
        info = converters_version()
    except PaError as err:
        return False, str(err)
    commit = (info.get("llama_cpp_commit") or "")[:10]
    return True, (
        f"llama.cpp converters from llama-cpp-python {info.get('llama_cpp_python', '?')}"
        f"{f' (llama.cpp {commit})' if commit else ''}, gguf-py {info.get('gguf_py', '?')}, in {info['folder']}"
    )


@lru_cache(maxsize=4)
def _architectures(folder: Path) -> frozenset[str]:
    tree = ast.parse((folder / "conversion" / "__init__.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "TEXT_MODEL_MAP" and isinstance(node.value, ast.Dict):
            return frozenset(k.value for k in node.value.keys if isinstance(k, ast.Constant))
    raise PaError(
        f"{folder / 'conversion' / '__init__.py'}: no TEXT_MODEL_MAP; the converters are not a version pa knows"
    )


def supported_architectures() -> frozenset[str]:
    """The HF `architectures` names the installed convert_hf_to_gguf.py converts to a text model."""
    return _architectures(converters_dir())


@dataclass(frozen=True)
class Conversion:
    """One run of a converter script: its file name and command-line arguments."""

    script: str
    args: list[str]
    output: Path


def hf_to_gguf(model_folder: Path, output: Path, outtype: str = "f16", model_name: str | None = None) -> Conversion:
    """A merged (or base) HF folder -> a model GGUF, tokenizer and chat template included.

    `model_name` becomes `general.name`, which llama.cpp also reads to apply per-family token
    attributes (a "phi3" name makes special tokens strip whitespace): an agent must carry its
    base's name or it would tokenize unlike its base.
    """
    args = [str(model_folder), "--outfile", str(output), "--outtype", outtype]
    return Conversion(HF_SCRIPT, args + (["--model-name", model_name] if model_name else []), output)


def lora_to_gguf(adapter_folder: Path, base_folder: Path, output: Path, outtype: str = "f32") -> Conversion:
    """A PEFT LoRA adapter -> a llama.cpp adapter GGUF (applied on the base GGUF at load time)."""
    return Conversion(
        LORA_SCRIPT,
        [str(adapter_folder), "--base", str(base_folder), "--outfile", str(output), "--outtype", outtype],
        output,
    )


def run_conversions(conversions: list[Conversion], log_file: Path) -> None:
    """Run the converters in one child process; a PaError with the converter's own reason on failure."""
    if not conversions:
        return
    folder = converters_dir()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    jobs = log_file.with_suffix(".jobs.json")
    jobs.write_text(json.dumps([[str(folder / c.script), *c.args] for c in conversions]), encoding="utf-8")
    env = dict(os.environ)
    pa_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(folder / "gguf-py"), str(folder), pa_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.pop("NO_LOCAL_GGUF", None)
    with log_file.open("w", encoding="utf-8") as log:
        done = subprocess.run(
            [sys.executable, "-m", "finetune.llama_converters", str(jobs)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    jobs.unlink(missing_ok=True)
    missing = [c.output.name for c in conversions if not c.output.is_file()]
    if done.returncode != 0 or missing:
        raise PaError(f"llama.cpp's converter failed: {_reason(log_file)} (full log: {log_file})")


def _reason(log_file: Path) -> str:
    lines = [
        line.strip() for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
    ]
    marked = [line[len(ERROR_MARK) :] for line in lines if line.startswith(ERROR_MARK)]
    if marked:
        return marked[-1]
    return lines[-1] if lines else "no output"


def _run_jobs(jobs_file: Path) -> int:
    """Child side: each job is [script, *argv], run as `python script argv...` would run it."""
    import runpy

    for job in json.loads(jobs_file.read_text(encoding="utf-8")):
        sys.argv = list(job)
        try:
            runpy.run_path(job[0], run_name="__main__")
        except SystemExit as stop:
            if stop.code not in (0, None):
                print(f"{ERROR_MARK}{Path(job[0]).name} exited with {stop.code}", flush=True)
                return 1
        except Exception as exc:  # noqa: BLE001 - reported to the parent as the one-line reason
            import traceback

            traceback.print_exc()
            print(f"{ERROR_MARK}{Path(job[0]).name}: {exc.__class__.__name__}: {exc}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(_run_jobs(Path(sys.argv[1])))
