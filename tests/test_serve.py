"""`pa serve` is a real OpenAI-compatible server: the official client drafts through a profile's agent.

Each server here is a real `pa serve` process on a free loopback port, with the embedded
SmolLM2 as M_L and the tiny trained agent as profile `tiny`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote

import httpx
import openai
import pytest

from tests.serve_process import REPO, start_serve

INTENT = "- ask Karen to review the memo"
DETAILS = "To: karen.denne@enron.com\nSubject: memo"
"""Like what the tiny agent was trained on, and a request the embedded M_L writes a draft for (greedy)."""
CONFIG = """
[drafting]
max_tokens = 48
rules_max_tokens = 64
temperature = 0.0
[embedded]
threads = 2
"""
KEY = "pa-test-key-0123456789abcdef"


def _home_with_agent(tiny_trained_agent, home: Path) -> Path:
    from core.paths import resolve_paths
    from core.store import Store

    home.mkdir(parents=True)
    (home / "config.toml").write_text(CONFIG, encoding="utf-8")
    paths = resolve_paths({"PA_HOME": str(home)})
    tiny_trained_agent.install(paths)
    with Store.open(paths.store_file) as store:
        store.create_profile("untrained")
    return home


@pytest.fixture(scope="module")
def agent_rules(tiny_trained_agent) -> str:
    """What the tiny agent answers for INTENT in-process (greedy, as the server's config asks it)."""
    import asyncio

    from core.drafting import DraftRequest, stream_rules
    from core.llm.base import GenerationOptions
    from core.llm.embedded import EmbeddedBackend

    async def rules() -> str:
        agent = EmbeddedBackend(tiny_trained_agent.gguf, threads=2)
        request = DraftRequest(INTENT, recipient="karen.denne@enron.com", subject="memo")
        options = GenerationOptions(temperature=0.0, max_tokens=64)
        return [e async for e in stream_rules(agent, request, options=options) if e.kind == "done"][0].text

    return asyncio.run(rules())


@pytest.fixture(scope="module")
def server(tiny_trained_agent, tmp_path_factory):
    home = _home_with_agent(tiny_trained_agent, tmp_path_factory.mktemp("serve") / "home")
    served = start_serve(home, "--max-concurrent", "1", "--max-request-bytes", "4096", "--max-tokens-limit", "256")
    served.home = home
    yield served
    served.stop()


def client(served, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url, api_key=key, max_retries=0, timeout=120)


def draft_messages() -> list[dict[str, str]]:
    return [{"role": "system", "content": DETAILS}, {"role": "user", "content": INTENT}]


def saved_drafts(home: Path) -> int:
    from core.paths import resolve_paths
    from core.store import Store

    with Store.open(resolve_paths({"PA_HOME": str(home)}).store_file) as store:
        return store.query("SELECT COUNT(*) AS n FROM drafts")[0]["n"]


def test_the_openai_client_gets_the_final_written_to_the_agents_rules(server, agent_rules):
    raw = client(server).chat.completions.with_raw_response.create(
        model="pa:tiny", messages=draft_messages(), temperature=0.0, seed=1
    )
    completion = raw.parse()
    text = completion.choices[0].message.content
    assert text and text.strip()
    assert completion.usage.completion_tokens > 0
    extra = completion.model_extra["pa"]
    assert extra["rules"] == agent_rules  # exactly what the profile's agent writes for this request
    assert "Sign off" in extra["rules"]  # the tiny agent's trained rules (tests/tiny_agent.py)
    assert extra["agent"] == "tiny/agent/v1" and extra["rules_source"] == "pa preference agent"
    assert unquote(raw.headers["x-pa-rules"]) == extra["rules"]
    assert raw.headers["x-pa-agent"] == "tiny/agent/v1"
    assert INTENT not in text  # a draft, not the prompt echoed back
    assert saved_drafts(server.home) == 0  # nothing is stored unless the caller asks


def test_streaming_sends_the_same_text_in_standard_chunks_then_done(server, agent_rules):
    request = dict(model="pa:tiny", messages=draft_messages(), temperature=0.0, seed=3, max_tokens=48)
    whole = client(server).chat.completions.create(**request).choices[0].message.content
    chunks = list(
        client(server).chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].model_extra["pa"]["rules"] == agent_rules
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.strip() == whole
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] in (
        ["stop"],
        ["length"],
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    with httpx.stream(
        "POST", f"{server.base_url}/chat/completions", json={**request, "stream": True}, timeout=120
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[1][len("data: ") :])["object"] == "chat.completion.chunk"


def test_saving_is_opt_in_through_metadata(server):
    before = saved_drafts(server.home)
    completion = client(server).chat.completions.create(
        model="pa:tiny@1",
        messages=[{"role": "user", "content": INTENT}],
        temperature=0.0,
        max_tokens=48,
        metadata={"save": "true", "to": "karen.denne@enron.com", "subject": "memo"},
    )
    assert saved_drafts(server.home) == before + 1
    assert isinstance(completion.model_extra["pa"]["draft_id"], int)


def test_models_lists_only_profiles_with_a_trained_agent(server):
    listed = {model.id: model for model in client(server).models.list()}
    assert list(listed) == ["pa:tiny"]
    assert listed["pa:tiny"].model_extra["pa"]["versions"] == [1]


@pytest.mark.parametrize(
    ("model", "error", "code"),
    [
        ("pa:nobody", openai.NotFoundError, "model_not_found"),
        ("pa:untrained", openai.NotFoundError, "agent_not_trained"),
        ("pa:tiny@7", openai.NotFoundError, "model_not_found"),
        ("gpt-4o", openai.NotFoundError, "model_not_found"),
    ],
)
def test_a_model_that_is_not_served_is_404_with_an_openai_error(server, model, error, code):
    with pytest.raises(error) as caught:
        client(server).chat.completions.create(model=model, messages=draft_messages())
    assert caught.value.body["code"] == code
    assert caught.value.body["message"]


def test_malformed_oversized_and_out_of_limit_requests_get_the_right_status(server):
    url = f"{server.base_url}/chat/completions"
    bad_json = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    no_user = httpx.post(url, json={"model": "pa:tiny", "messages": [{"role": "system", "content": "hi"}]})
    assert no_user.status_code == 400 and no_user.json()["error"]["param"] == "messages"
    too_big = httpx.post(url, json={"model": "pa:tiny", "messages": [{"role": "user", "content": "x" * 5000}]})
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).chat.completions.create(model="pa:tiny", messages=draft_messages(), max_tokens=100_000)
    assert caught.value.body["code"] == "max_tokens_too_large"


def test_the_request_log_holds_no_texts_by_default(server):
    client(server).chat.completions.create(model="pa:tiny", messages=draft_messages(), temperature=0.0, max_tokens=48)
    log = "".join(server.log)
    assert '"status": 200' in log
    assert "review the memo" not in log and "karen" not in log.lower() and "Sign off" not in log


def test_a_full_server_answers_429_at_once(server):
    """--max-concurrent 1: while one draft streams, the next request is refused, not queued."""
    first_started = threading.Event()
    first_text: list[str] = []

    def first() -> None:
        stream = client(server).chat.completions.create(
            model="pa:tiny", messages=draft_messages(), stream=True, max_tokens=48, temperature=0.0
        )
        for chunk in stream:
            first_started.set()
            first_text.extend(c.delta.content or "" for c in chunk.choices)

    worker = threading.Thread(target=first)
    worker.start()
    assert first_started.wait(120)
    with pytest.raises(openai.RateLimitError) as caught:
        client(server).chat.completions.create(model="pa:tiny", messages=draft_messages())
    worker.join(120)
    assert caught.value.body["code"] == "server_busy"
    assert caught.value.response.headers["retry-after"] == "1"
    assert "".join(first_text).strip()  # the admitted request finished normally


def test_binding_beyond_loopback_without_a_key_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PA_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--api-key-env" in result.stderr and "listening" not in result.stdout


def test_with_a_key_every_route_requires_it(tiny_trained_agent, tmp_path):
    home = _home_with_agent(tiny_trained_agent, tmp_path / "home")
    served = start_serve(home, "--api-key-env", "PA_TEST_SERVE_KEY", env={"PA_TEST_SERVE_KEY": KEY})
    try:
        with pytest.raises(openai.AuthenticationError):
            client(served, "wrong-key-0123456789abcdef").models.list()
        assert httpx.get(f"{served.base_url}/models").status_code == 401
        no_key = httpx.post(
            f"{served.base_url}/chat/completions", json={"model": "pa:tiny", "messages": draft_messages()}
        )
        assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "invalid_api_key"
        assert [m.id for m in client(served, KEY).models.list()] == ["pa:tiny"]
    finally:
        served.stop()


def test_pa_help_does_not_load_the_server_stack():
    code = (
        "import sys; from core.cli import run; run(['--help']); "
        "print('LOADED', [m for m in ('starlette', 'uvicorn', 'llama_cpp', 'openai') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert "serve" in result.stdout
    assert "LOADED []" in result.stdout
