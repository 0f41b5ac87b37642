"""Privacy guard: local_only refuses every remote role, redact keeps contact details home, doctor says where text goes."""

from __future__ import annotations

import json

from pytest_httpserver import HTTPServer

from core.config import parse_config
from core.llm.base import Message
from core.llm.openai_backend import OpenAIBackend
from core.llm.specs import open_backend, parse_spec
from core.privacy import RedactingBackend, Redactor, destination
from tests.test_backend_openai import CHAT, delta, sse, usage_event

MAIL = [
    Message("system", "You turn emails into short notes."),
    Message(
        "user",
        "<metadata>\nFrom: Ann Lee <ann.lee@example.com>\nTo: Bo Berg <bo@corp.example>\n</metadata>\n"
        "<email>\nBo, call me on +1 (713) 555-0199 or see https://intranet.example.com/q3?id=7 before 2024-03-04.\n"
        "Thanks, Ann\n</email>",
    ),
]
SECRETS = ("ann.lee@example.com", "bo@corp.example", "555-0199", "intranet.example.com", "Ann", "Lee", "Bo Berg")


def test_local_only_refuses_every_remote_role_and_doctor_says_where_text_goes(pa, pa_home):
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(
        '[models]\nlarge = "openai:gpt-4o-mini"\nagent = "embedded"\njudge = "ollama:llama3.1:8b"\n'
        '[ollama]\nhost = "https://gpu.example.com:11434"\n[privacy]\nlocal_only = true\n',
        encoding="utf-8",
    )
    result = pa("doctor", "--json")
    assert result.exit_code == 1
    roles = {check["role"]: check for check in json.loads(result.stdout)}
    assert roles["agent"]["usable"] and roles["agent"]["sends_to"] == "this process (llama.cpp)"
    for role, where in (
        ("large", "https://api.openai.com/v1 (another machine)"),
        ("judge", "https://gpu.example.com:11434 (another machine)"),
    ):
        assert not roles[role]["usable"] and roles[role]["reachable"] is None  # refused before any connection
        assert roles[role]["problem"].startswith(
            f"privacy.local_only is set, and {roles[role]['spec']} would send text to {where}"
        )
        assert roles[role]["sends_to"].startswith(where)


def test_servers_on_this_machine_are_local():
    config = parse_config(
        '[openai]\nbase_url = "http://127.0.0.1:8080/v1"\n[privacy]\nlocal_only = true\nredact = true\n'
    )
    backend = open_backend("openai:m", config)
    assert isinstance(backend, OpenAIBackend)  # neither refused nor redacted: nothing leaves the machine
    assert destination(parse_spec("openai:m"), config).describe() == "http://127.0.0.1:8080/v1 (this machine)"


def test_redact_wraps_only_backends_that_reach_another_machine():
    config = parse_config("[privacy]\nredact = true\n")
    backend = open_backend("openai:gpt-4o-mini", config)
    assert isinstance(backend, RedactingBackend) and backend.spec == "openai:gpt-4o-mini"
    assert destination(parse_spec("openai:x"), config).describe() == (
        "https://api.openai.com/v1 (another machine), contact details redacted"
    )


async def test_a_redacted_call_sends_placeholders_and_the_answer_gets_the_details_back(httpserver: HTTPServer):
    answer = sse(
        delta("Hi [NA"),
        delta("ME_3], I will ring [PHO"),
        delta("NE_1] and read [URL_1]. [NAME_1]"),
        delta(finish="stop"),
        usage_event(40, 12),
    )
    httpserver.expect_request(CHAT, method="POST").respond_with_data(answer, content_type="text/event-stream")
    inner = OpenAIBackend("m", base_url=httpserver.url_for("/v1"), verify_model=False, max_retries=0)
    backend = RedactingBackend(inner)
    chunks = [chunk async for chunk in backend.stream(MAIL)]
    ((request, _),) = httpserver.log
    sent = json.dumps(json.loads(request.get_data())["messages"])
    assert [secret for secret in SECRETS if secret in sent] == []
    assert "[EMAIL_1]" in sent and "[PHONE_1]" in sent and "[URL_1]" in sent and "2024-03-04" in sent
    text = "".join(chunk.text for chunk in chunks)
    names = backend.redactor.values
    assert (
        text
        == f"Hi {names['[NAME_3]']}, I will ring +1 (713) 555-0199 and read https://intranet.example.com/q3?id=7. {names['[NAME_1]']}"
    )
    assert "[" not in text and chunks[-1].usage is not None
    assert {names["[NAME_1]"], names["[NAME_3]"]} <= {"Ann Lee", "Bo Berg", "Ann", "Lee", "Bo", "Berg"}


def test_placeholders_are_stable_across_calls():
    redactor = Redactor()
    first = redactor.redact("From: Ann Lee <ann@example.com>\nsee ann@example.com")
    second = redactor.redact("ann@example.com wrote again; Ann says hi")
    assert first.count("[EMAIL_1]") == 2 and "[EMAIL_1]" in second and "Ann" not in second
    assert redactor.restore(second) == "ann@example.com wrote again; Ann says hi"
