"""GGUF export through llama.cpp's own converters: where they come from, what they write, what is refused.

The tiny agent (tests/tiny_agent.py, a Llama with the SmolLM2 tokenizer) is exported by
`convert_hf_to_gguf.py` and `convert_lora_to_gguf.py` in the fixture; these tests check the
result against independent readers (the embedded SmolLM2 GGUF, llama.cpp) and the errors a
user sees for a base pa cannot export.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.errors import PaError, UsageError
from finetune.export import choose_quant


def test_converters_are_the_runtime_llama_cpp_version_with_their_own_gguf_py():
    import llama_cpp

    from finetune.llama_converters import converters_dir, converters_version, describe_converters

    info = converters_version()
    assert info["llama_cpp_python"] == llama_cpp.__version__
    pyproject = (converters_dir() / "gguf-py" / "pyproject.toml").read_text()
    assert f'version = "{info["gguf_py"]}"' in pyproject
    ok, line = describe_converters()
    assert ok and llama_cpp.__version__ in line


def test_doctor_reports_the_converters_version(pa):
    import llama_cpp

    result = pa("doctor")
    assert result.exit_code == 0, result.stderr
    assert "GGUF export: ok" in result.stdout and f"llama-cpp-python {llama_cpp.__version__}" in result.stdout


def test_missing_converters_name_the_folder_and_the_fix(monkeypatch, tmp_path):
    from finetune.llama_converters import describe_converters

    monkeypatch.setenv("PA_LLAMA_CPP_CONVERTERS", str(tmp_path))
    ok, line = describe_converters()
    assert not ok and str(tmp_path) in line and "scripts/install.sh" in line


def test_agent_gguf_carries_the_base_gguf_tokenizer_and_template(tiny_trained_agent):
    from finetune.base_model import embedded_gguf_path
    from finetune.gguf_checks import IDENTITY_KEYS, gguf_field_digests, read_gguf_fields

    written = read_gguf_fields(tiny_trained_agent.float_gguf, ("tokenizer.ggml.pre", "tokenizer.chat_template"))
    assert written["tokenizer.ggml.pre"] == "smollm"  # the converter recognised SmolLM2's pre-tokenizer
    assert "<|im_start|>" in written["tokenizer.chat_template"]
    keys = tuple(k for k in IDENTITY_KEYS if k != "general.name")  # the tiny base is no SmolLM2
    assert gguf_field_digests(tiny_trained_agent.float_gguf, keys) == gguf_field_digests(embedded_gguf_path(), keys)
    assert tiny_trained_agent.agent.manifest["converter"]["llama_cpp_python"]


def test_a_changed_chat_template_is_caught_after_export(tiny_trained_agent, tmp_path):
    from finetune.gguf_checks import check_agent_gguf

    base = tmp_path / "base"
    shutil.copytree(tiny_trained_agent.base_folder, base)
    (base / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    with pytest.raises(PaError, match="chat template that differs"):
        check_agent_gguf(tiny_trained_agent.float_gguf, base)


def test_default_quant_follows_row_widths():
    import torch

    class Fake:  # like a Llama layer: q, k, v, o, gate, up read `width` columns, down reads 8/3 x width
        def __init__(self, width):
            self.weights = {f"w{i}": torch.zeros(8, width) for i in range(6)}
            self.weights.update(down=torch.zeros(width, width * 8 // 3), norm=torch.zeros(width))

        def state_dict(self):
            return self.weights

    assert choose_quant(Fake(576)) == "q8_0"  # SmolLM2-135M
    assert choose_quant(Fake(2048)) == "q4_k_m"


def test_an_architecture_the_converter_lacks_is_refused_before_training(tmp_path):
    from core.paths import resolve_paths
    from finetune.base_model import resolve_base_model

    folder = tmp_path / "odd-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["ReformerModelWithLMHead"]}))
    with pytest.raises(UsageError, match=r"ReformerModelWithLMHead, which llama.cpp's converter .* cannot"):
        resolve_base_model(str(folder), resolve_paths({"PA_HOME": str(tmp_path / "home")}))


def test_a_tokenizer_the_converter_does_not_know_is_a_one_line_error(tiny_trained_agent, tmp_path):
    from finetune.llama_converters import hf_to_gguf, run_conversions

    base = tmp_path / "base"
    shutil.copytree(tiny_trained_agent.base_folder, base)
    spec = json.loads((base / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Whitespace"}  # splits differently: a hash llama.cpp does not know
    (base / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(PaError) as caught:
        run_conversions([hf_to_gguf(base, tmp_path / "x.gguf")], tmp_path / "convert.log")
    message = str(caught.value)
    assert "\n" not in message and "pre-tokenizer was not recognized" in message and "convert.log" in message


def _fake_ollama_store(root, gguf, name="library/tinyagent", tag="latest"):
    """Ollama's on-disk layout: manifests/<host>/<namespace>/<model>/<tag> -> blobs/sha256-<digest>."""
    from finetune.base_model import file_sha256

    digest = file_sha256(gguf)
    (root / "blobs").mkdir(parents=True)
    shutil.copy2(gguf, root / "blobs" / f"sha256-{digest}")
    manifest = root / "manifests" / "registry.ollama.ai" / name / tag
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "layers": [
                    {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "0" * 64, "size": 10},
                    {
                        "mediaType": "application/vnd.ollama.image.model",
                        "digest": f"sha256:{digest}",
                        "size": gguf.stat().st_size,
                    },
                ],
            }
        )
    )
    return root / "blobs" / f"sha256-{digest}"


def test_an_ollama_model_on_disk_is_a_base(tiny_trained_agent, tmp_path, monkeypatch):
    from core.paths import resolve_paths
    from finetune.base_model import resolve_base_model

    blob = _fake_ollama_store(tmp_path / "ollama", tiny_trained_agent.gguf)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    paths = resolve_paths({"PA_HOME": str(tmp_path / "home")})
    base = resolve_base_model("ollama:tinyagent", paths)
    assert base.gguf == blob and (tmp_path / "home").exists()
    config = json.loads((Path(base.folder) / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert resolve_base_model("tinyagent:latest", paths).folder == base.folder  # a bare name:tag works too

    with pytest.raises(UsageError, match=r"Ollama model missing:7b is not on this disk .* OLLAMA_MODELS"):
        resolve_base_model("ollama:missing:7b", paths)


def test_a_non_gguf_ollama_blob_is_refused(tmp_path, monkeypatch):
    from core.paths import resolve_paths
    from finetune.base_model import resolve_base_model

    fake = tmp_path / "not.gguf"
    fake.write_bytes(b"safetensors?")
    _fake_ollama_store(tmp_path / "ollama", fake, name="library/odd")
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    with pytest.raises(UsageError, match="is not a GGUF file"):
        resolve_base_model("ollama:odd", resolve_paths({"PA_HOME": str(tmp_path / "home")}))


def test_lora_adapter_gguf_on_the_base_gguf_answers_like_the_merged_export(tiny_trained_agent):
    import llama_cpp

    from tests.test_finetune_tiny import PROMPTS, _chat

    manifest = tiny_trained_agent.agent.manifest
    lora, base_gguf = tiny_trained_agent.agent.lora_gguf, manifest["lora_base_gguf"]
    merged = llama_cpp.Llama(str(tiny_trained_agent.float_gguf), n_ctx=512, n_threads=2, verbose=False)
    with_lora = llama_cpp.Llama(base_gguf, lora_path=str(lora), n_ctx=512, n_threads=2, verbose=False)
    plain = llama_cpp.Llama(base_gguf, n_ctx=512, n_threads=2, verbose=False)
    for prompt in PROMPTS:
        answers = [
            llm.create_chat_completion(_chat(*prompt), max_tokens=48, temperature=0.0)["choices"][0]["message"][
                "content"
            ]
            for llm in (merged, with_lora, plain)
        ]
        assert answers[1] == answers[0]
        assert answers[2] != answers[0]
