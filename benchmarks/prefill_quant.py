"""Why llama.cpp reads prompts slowly here: the weight format's kernels, then runtime settings.

This build of llama.cpp (scripts/install.sh: AVX2/FMA/F16C, llamafile sgemm, OpenMP, the CPU
repack path; `llama_print_system_info` is printed) has fast matrix-matrix kernels for some
weight formats only: llamafile's sgemm covers Q8_0 and Q4_0 (and float types) on AVX2, and
the repack path turns Q4_0 into interleaved blocks with a GEMM kernel. The embedded model
ships as Q4_1, which has neither, so a prompt is read one token column at a time with the
same dot products as decoding. The table converts the embedded GGUF to Q8_0 and Q4_0
(`llama_model_quantize`, in a temporary folder) and measures, on the same prompt and the
same threads, in one run with the load average:

- prompt processing tok/s (one `llama_decode` of the whole prompt, logits for the last token)
- generation tok/s (greedy, one token per pass)
- 8 sequences decoded together (core.llm.embedded_batch's case): tok/s
- n_ubatch 128 vs 512 for the prompt (runtime setting)

Times are CPU seconds of this process (thread time summed), so a busy machine inflates them
less than wall time; wall tok/s is printed too.

    python benchmarks/prefill_quant.py [--threads 1] [--prompt-tokens 384] [--new-tokens 32]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.llm.specs import embedded_model_path  # noqa: E402

_quiet = None


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def measure(path: Path, threads: int, prompt_tokens: int, new_tokens: int, n_ubatch: int) -> dict[str, float]:
    import llama_cpp

    llama = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=2048,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        n_ubatch=n_ubatch,
        verbose=False,
    )
    try:
        text = (
            "Natural gas prices are formed by supply, pipeline capacity, storage, weather and demand. " * 40
        ).encode()
        prompt = llama.tokenize(text, add_bos=False)[:prompt_tokens]
        llama.eval(prompt[:16])  # warm up
        llama.reset()
        wall, cpu = clock()
        llama.eval(prompt)
        wall_p, cpu_p = time.perf_counter() - wall, time.process_time() - cpu
        token = prompt[-1]
        wall, cpu = clock()
        for _ in range(new_tokens):  # the same token each time: the cost of a pass does not depend on it
            llama.eval([token])
        wall_g, cpu_g = time.perf_counter() - wall, time.process_time() - cpu
        batched = batched_decode(llama, prompt[:64], 8, new_tokens)
    finally:
        llama.close()
    return {
        "prompt_cpu": len(prompt) / cpu_p,
        "prompt_wall": len(prompt) / wall_p,
        "gen_cpu": new_tokens / cpu_g,
        "gen_wall": new_tokens / wall_g,
        "batch8_cpu": batched[0],
        "batch8_wall": batched[1],
    }


def batched_decode(llama, prompt: list[int], sequences: int, steps: int) -> tuple[float, float]:
    """tok/s of `sequences` sequences decoding one token each per pass, in one context of their own."""
    import llama_cpp
    from llama_cpp import _internals

    params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)
    params.n_ctx = 512 * sequences
    params.n_seq_max = sequences
    params.kv_unified = False
    context = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    try:
        for seq in range(sequences):
            for i, token in enumerate(prompt):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, i, 1, i == len(prompt) - 1
                batch.seq_id[i][0] = seq
            batch.n_tokens = len(prompt)
            assert llama_cpp.llama_decode(context.ctx, batch) == 0
        wall, cpu = clock()
        for step in range(steps):
            for seq in range(sequences):
                batch.token[seq], batch.pos[seq], batch.n_seq_id[seq], batch.logits[seq] = (
                    prompt[step % len(prompt)],
                    len(prompt) + step,
                    1,
                    True,
                )
                batch.seq_id[seq][0] = seq
            batch.n_tokens = sequences
            assert llama_cpp.llama_decode(context.ctx, batch) == 0
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        llama_cpp.llama_batch_free(batch)
        context.close()
    return sequences * steps / cpu, sequences * steps / wall


def requantize(source: Path, target: Path, ftype: int) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = 1
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        raise SystemExit(f"llama_model_quantize failed for {target.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prompt-tokens", type=int, default=384)
    parser.add_argument("--new-tokens", type=int, default=32)
    args = parser.parse_args()
    import llama_cpp

    global _quiet  # the C side keeps the pointer: the callback object must outlive every call
    _quiet = llama_cpp.llama_log_callback(lambda *_: None)
    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
    source = embedded_model_path()
    print(f"llama.cpp: {llama_cpp.llama_print_system_info().decode().strip()}")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        variants = {"Q4_1 (shipped)": (source, 512)}
        for name, ftype in (("Q8_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0), ("Q4_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0)):
            target = Path(folder) / f"{name}.gguf"
            requantize(source, target, ftype)
            variants[f"{name} (from Q4_1)"] = (target, 512)
        variants["Q4_1, n_ubatch 128"] = (source, 128)
        results = {
            name: measure(path, args.threads, args.prompt_tokens, args.new_tokens, ubatch)
            for name, (path, ubatch) in variants.items()
        }
    print(
        f"SmolLM2-135M, {args.prompt_tokens}-token prompt, {args.new_tokens} new tokens, {args.threads} thread(s); "
        f"load average {load:.2f} -> {os.getloadavg()[0]:.2f} (CPU-time rates are less load-sensitive than wall)"
    )
    print(
        f"{'weights':<22}{'prompt tok/CPU-s':>17}{'(wall)':>9}{'gen tok/CPU-s':>15}{'(wall)':>9}{'8 seqs tok/CPU-s':>18}{'(wall)':>9}"
    )
    for name, r in results.items():
        print(
            f"{name:<22}{r['prompt_cpu']:>17.1f}{r['prompt_wall']:>9.1f}{r['gen_cpu']:>15.1f}{r['gen_wall']:>9.1f}"
            f"{r['batch8_cpu']:>18.1f}{r['batch8_wall']:>9.1f}"
        )
    base = results["Q4_1 (shipped)"]
    for name, r in results.items():
        if name != "Q4_1 (shipped)":
            print(
                f"{name}: prompt {r['prompt_cpu'] / base['prompt_cpu']:.2f}x, generation {r['gen_cpu'] / base['gen_cpu']:.2f}x, "
                f"8 sequences {r['batch8_cpu'] / base['batch8_cpu']:.2f}x the shipped Q4_1 (CPU time)"
            )


if __name__ == "__main__":
    main()
