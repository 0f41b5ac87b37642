"""Kept KV states of earlier calls (core.llm.prefix_states) with the real SmolLM2-135M GGUF.

The contract: a call whose prompt starts like an earlier call's (not just the last one) reads
only the rest, and answers with exactly the tokens it gives read whole on a fresh context.
"""

from __future__ import annotations

import pytest

from core.llm.base import GenerationOptions, Message
from core.llm.embedded import EmbeddedBackend, load_model
from core.llm.prefix_states import SUFFIX_TOKENS, PrefixStates
from core.llm.specs import embedded_model_path

N_CTX = 1024
EMAIL = (
    "Ruth,\nHere is the estimate for the roof repair we talked about on Monday. The price includes the "
    "gutters but not the paint. Call me if you have any questions before Friday.\nThanks,\nTheresa"
)
INTENT = [
    Message("system", "You turn an email into short notes of what its sender wanted to say."),
    Message("user", f"<email>\n{EMAIL}\n</email>\n\nWrite the notes as bullets starting with '- '."),
]
OTHER = [Message("user", "List four fruits that are red, one per line.")]
GREEDY = GenerationOptions(temperature=0.0, max_tokens=24)


def backend() -> EmbeddedBackend:
    return EmbeddedBackend(embedded_model_path(), n_ctx=N_CTX, threads=1)


def prompt_tokens_read() -> int:
    """Prompt tokens llama.cpp has read on the model's context so far (its own counter)."""
    import llama_cpp

    llama = load_model(embedded_model_path(), n_ctx=N_CTX, threads=1).llama
    return int(llama_cpp.llama_perf_context(llama._ctx.ctx).n_p_eval)


def fresh_context() -> None:
    model = load_model(embedded_model_path(), n_ctx=N_CTX, threads=1)
    model.llama.reset()
    model.prefixes.clear()


async def answer(messages: list[Message], options: GenerationOptions = GREEDY) -> tuple[str, int, int]:
    text, last = "", None
    async for chunk in backend().stream(messages, options):
        text += chunk.text
        last = chunk
    assert last is not None and last.usage is not None
    return text, last.usage.prompt_tokens, last.usage.completion_tokens


async def read_whole(messages: list[Message], options: GenerationOptions = GREEDY) -> tuple[str, int, int]:
    fresh_context()
    return await answer(messages, options)


@pytest.fixture
def prefixes() -> PrefixStates:
    fresh_context()
    return load_model(embedded_model_path(), n_ctx=N_CTX, threads=1).prefixes


async def test_a_prompt_that_starts_like_an_earlier_call_reads_only_the_rest_with_the_same_tokens(prefixes):
    await answer(INTENT)
    await answer(OTHER)  # another document's call comes between, as in distillation
    read_before = prompt_tokens_read()
    again = await answer(INTENT, GenerationOptions(temperature=0.0, max_tokens=16))
    assert prompt_tokens_read() - read_before == SUFFIX_TOKENS, "the earlier prompt was read again"
    assert again == await read_whole(INTENT, GenerationOptions(temperature=0.0, max_tokens=16))


async def test_a_retry_after_another_call_reuses_the_prompt_and_the_refused_answer(prefixes):
    refused = await answer(INTENT)
    await answer(OTHER)
    retry = [
        *INTENT,
        Message("assistant", refused[0]),
        Message("user", "That answer cannot be used: no <intent> tags. Do the task again."),
    ]
    read_before = prompt_tokens_read()
    retried = await answer(retry)
    assert prompt_tokens_read() - read_before < retried[1] - refused[1], "the first prompt or the answer was read again"
    assert retried == await read_whole(retry)


async def test_a_guided_step_continues_its_first_step_after_another_call(prefixes):
    step = await answer([*INTENT, Message("assistant", "<scratchpad>\n")])
    await answer(OTHER)
    continued = [*INTENT, Message("assistant", "<scratchpad>\n" + step[0] + "\n</scratchpad>\n<intent>\n- ")]
    read_before = prompt_tokens_read()
    second = await answer(continued)
    assert prompt_tokens_read() - read_before < second[1] - step[1], "the first step was read again"
    assert second == await read_whole(continued)


async def test_kept_states_stay_within_their_budget_dropping_the_oldest(prefixes):
    await answer(INTENT)
    one_state = prefixes._bytes
    prefixes.budget_bytes = one_state + 1  # room for one state: a second one pushes the first out
    await answer(OTHER)
    assert prefixes._bytes <= prefixes.budget_bytes
    read_before = prompt_tokens_read()
    whole = await answer(INTENT)  # its state was dropped for OTHER's: the prompt is read again
    assert prompt_tokens_read() - read_before >= whole[1] - 8  # all but the chat template's opening
