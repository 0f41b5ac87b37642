"""A batch engine for tests: runs a Batch API request JSONL against a real chat server, writes the output JSONL.

It does what `vllm run-batch` and the OpenAI Batch API do with pa's file: one chat request per
line, the answers written in the batch output format (`custom_id`, `response.status_code`,
`response.body`, `error`).
"""

from __future__ import annotations

import json
from pathlib import Path

import openai


def run_batch(requests: Path, output: Path, base_url: str) -> int:
    client = openai.OpenAI(base_url=base_url, api_key="batch", max_retries=0)
    lines = []
    for number, line in enumerate(requests.read_text(encoding="utf-8").splitlines()):
        request = json.loads(line)
        assert request["method"] == "POST" and request["url"] == "/v1/chat/completions"
        body = request["body"]
        parts, finish, usage = [], None, None
        for chunk in client.chat.completions.create(**body, stream=True, stream_options={"include_usage": True}):
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
            usage = chunk.usage or usage
        completion = {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "".join(parts)}, "finish_reason": finish}
            ],
            "usage": usage.model_dump() if usage else None,
        }
        lines.append(
            {
                "id": f"batch_req_{number}",
                "custom_id": request["custom_id"],
                "response": {"status_code": 200, "request_id": f"req_{number}", "body": completion},
                "error": None,
            }
        )
    output.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return len(lines)
