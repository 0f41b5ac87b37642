"""Batched embedded decoding (core.llm.embedded_batch) with the real SmolLM2-135M GGUF.

The yield contract: a call decoded together with others gives exactly the tokens it gives
alone, one at a time, for the same prompt, temperature and seed. Greedy and seeded sampling
are deterministic, so the tests compare the two paths with each other, never with prose.
"""

from __future__ import annotations

import asyncio

from core.llm.base import GenerationOptions, Message
from core.llm.embedded import EmbeddedBackend, load_model
from core.llm.embedded_batch import engine_for, existing_engine
from core.llm.specs import embedded_model_path

N_CTX = 1024
PROMPTS = [
    [Message("user", "Write three short bullet points about the weather in Paris.")],
    [Message("user", "List four fruits that are red.")],
    [Message("system", "You are terse."), Message("user", "What is 7 times 8?")],
    [Message("user", "Explain in two sentences why the sky is blue.")],
]
INTENT = [Message("user", "Summarise as bullets: Ruth, here is the estimate. Call me with questions. Thanks, Theresa")]


def backend(parallel: int) -> EmbeddedBackend:
    return EmbeddedBackend(embedded_model_path(), n_ctx=N_CTX, threads=1, parallel=parallel)


async def answer(
    model: EmbeddedBackend, messages: list[Message], options: GenerationOptions
) -> tuple[str, str | None, int, int]:
    text, last = "", None
    async for chunk in model.stream(messages, options):
        text += chunk.text
        last = chunk
    assert last is not None and last.usage is not None
    return text, last.finish_reason, last.usage.prompt_tokens, last.usage.completion_tokens


async def one_at_a_time(calls: list[tuple[list[Message], GenerationOptions]]) -> list[tuple]:
    single = backend(1)
    return [await answer(single, messages, options) for messages, options in calls]


async def together(calls: list[tuple[list[Message], GenerationOptions]]) -> list[tuple]:
    return list(await asyncio.gather(*(answer(backend(4), messages, options) for messages, options in calls)))


def engine():
    return engine_for(
        load_model(embedded_model_path(), n_ctx=N_CTX, threads=1).llama, parallel=4, n_ctx=N_CTX, threads=1
    )


async def test_greedy_answers_decoded_together_equal_the_one_at_a_time_answers():
    calls = [(messages, GenerationOptions(temperature=0.0, max_tokens=32)) for messages in PROMPTS]
    steps_before = engine().steps
    batched = await together(calls)
    assert batched == await one_at_a_time(calls)
    sampled = sum(result[3] for result in batched)
    assert engine().steps - steps_before < sampled * 0.6, "the calls did not share forward passes"


async def test_three_seeded_intent_samples_share_their_prompt_and_keep_their_tokens():
    """The three intent candidates of one text: one prompt read once, each its own temperature and seed."""
    calls = [
        (INTENT, GenerationOptions(temperature=t, max_tokens=24, seed=100 + slot))
        for slot, t in enumerate((0.7, 1.0, 1.2))
    ]
    read_before = engine().prompt_tokens_read
    batched = await together(calls)
    prompt_tokens = batched[0][2]
    assert engine().prompt_tokens_read - read_before <= prompt_tokens + 2 * 1, "the prompt was read more than once"
    # Sampled answers are not compared with the one-at-a-time path: batched and single forward
    # passes round logits differently, and a sampler turns that into other tokens (greedy
    # answers are compared token for token above). That is why embedded.parallel defaults to 1.
    assert len({result[0] for result in batched}) > 1  # different temperatures and seeds really sampled


async def test_stop_strings_end_the_answer_before_them_as_one_at_a_time():
    calls = [
        (messages, GenerationOptions(temperature=0.0, max_tokens=40, stop=("2.", "\n\n"))) for messages in PROMPTS[:2]
    ]
    batched = await together(calls)
    assert batched == await one_at_a_time(calls)
    assert all("2." not in text for text, *_ in batched)


async def test_a_continued_answer_reads_only_what_was_added():
    """A guided step continues the previous step's prompt and answer: those cells are reused."""
    first = await answer(backend(4), INTENT, GenerationOptions(temperature=0.0, max_tokens=16))
    continued = [*INTENT, Message("assistant", first[0] + "\n- ")]
    read_before = engine().prompt_tokens_read
    second = await answer(backend(4), continued, GenerationOptions(temperature=0.0, max_tokens=8))
    assert engine().prompt_tokens_read - read_before < 8
    assert second == (await one_at_a_time([(continued, GenerationOptions(temperature=0.0, max_tokens=8))]))[0]


async def test_a_cancelled_call_stops_without_disturbing_the_others():
    options = GenerationOptions(temperature=0.0, max_tokens=24)
    model = backend(4)

    async def cancel_early() -> None:
        async for _chunk in model.stream(PROMPTS[0], GenerationOptions(temperature=0.0, max_tokens=400)):
            break  # leaving the loop closes the stream, which cancels the call

    _, kept = await asyncio.gather(cancel_early(), answer(model, PROMPTS[1], options))
    assert kept == (await one_at_a_time([(PROMPTS[1], options)]))[0]
    assert not engine().busy


async def test_calls_one_after_another_never_start_the_engine_and_overlapping_ones_do():
    """The engine's KV cache (parallel x n_ctx) is only paid for when calls really overlap."""
    model = EmbeddedBackend(embedded_model_path(), n_ctx=768, threads=1, parallel=4)  # a model of its own
    options = GenerationOptions(temperature=0.0, max_tokens=8)
    for messages in PROMPTS[:2]:
        await answer(model, messages, options)
    llama = load_model(embedded_model_path(), n_ctx=768, threads=1).llama
    assert existing_engine(llama) is None
    await asyncio.gather(*(answer(model, messages, options) for messages in PROMPTS))
    assert existing_engine(llama) is not None


async def test_two_workers_answer_overlapping_calls_with_the_one_at_a_time_tokens():
    """Separate engines on one core each: the calls run at once, each with the tokens it gets alone."""
    calls = [(messages, GenerationOptions(temperature=0.0, max_tokens=24)) for messages in PROMPTS]
    model = EmbeddedBackend(embedded_model_path(), n_ctx=640, threads=2, parallel=1, workers=2)
    results = await asyncio.gather(*(answer(model, messages, options) for messages, options in calls))
    pool = existing_engine(load_model(embedded_model_path(), n_ctx=640, threads=2).llama)
    assert pool is not None and len(pool.engines) == 2
    assert all(engine.steps > 0 for engine in pool.engines), "one worker did all the work"
    alone = EmbeddedBackend(embedded_model_path(), n_ctx=640, threads=2)
    assert results == [await answer(alone, messages, options) for messages, options in calls]
