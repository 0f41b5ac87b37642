#!/usr/bin/env bash
# Install pa into ./.venv from the project's own files: CPU torch first (so no CUDA build is
# pulled), llama-cpp-python built once with portable CPU flags and cached, then pa itself.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_VERSION="0.3.36"
# AMX kernels crash on CPUs/VMs that advertise AMX without enabling it, and -march=native
# builds are not portable: build for AVX2 explicitly.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
if [ "$(uname -m)" != "x86_64" ]; then
  LLAMA_CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip wheel setuptools
python -m pip install --quiet "torch==2.13.0"

# pip's own wheel cache ignores CMAKE_ARGS, so keep our build in a cache keyed by them. The same
# source archive carries llama.cpp's own HF->GGUF converters (convert_hf_to_gguf.py,
# convert_lora_to_gguf.py, conversion/, gguf-py/) of exactly the llama.cpp that pa runs: pa exports
# agents with them, so they are kept next to the wheel (one download, from PyPI, per cache).
key=$(printf '%s %s %s' "$LLAMA_CPP_VERSION" "$LLAMA_CMAKE_ARGS" "$(uname -m)" | sha256sum | cut -c1-16)
wheels="${PA_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pa-wheels}/llama-cpp-$key"
converters="$wheels/llama.cpp-converters"
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1 || [ ! -f "$converters/pa_converters.json" ]; then
  rm -rf "$wheels.partial" && mkdir -p "$wheels.partial/src"
  python -m pip download --quiet --no-deps --no-binary llama-cpp-python -d "$wheels.partial/src" \
    "llama-cpp-python==$LLAMA_CPP_VERSION"
  sdist=$(ls "$wheels.partial"/src/llama_cpp_python-*.tar.gz)
  if ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    cp "$wheels"/llama_cpp_python-*.whl "$wheels.partial/"
  else
    echo "building llama-cpp-python $LLAMA_CPP_VERSION from source (several minutes, once)..."
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      python -m pip wheel --quiet --no-deps --no-cache-dir -w "$wheels.partial" "$sdist"
  fi
  top="llama_cpp_python-$LLAMA_CPP_VERSION"
  vendor="$top/vendor/llama.cpp"
  tar -xzf "$sdist" -C "$wheels.partial/src" "$vendor/convert_hf_to_gguf.py" "$vendor/convert_lora_to_gguf.py" \
    "$vendor/conversion" "$vendor/gguf-py/gguf" "$vendor/gguf-py/pyproject.toml" "$vendor/LICENSE"
  commit=$(tar -xzOf "$sdist" "$top/.git/modules/vendor/llama.cpp/HEAD" 2>/dev/null || true)
  mv "$wheels.partial/src/$vendor" "$wheels.partial/llama.cpp-converters"
  python - "$wheels.partial/llama.cpp-converters" "$LLAMA_CPP_VERSION" "$commit" <<'PY'
import json, re, sys
from pathlib import Path
folder, version, commit = Path(sys.argv[1]), sys.argv[2], sys.argv[3].strip()
gguf = re.search(r'^version = "([^"]+)"', (folder / "gguf-py/pyproject.toml").read_text(), re.M)
info = {"llama_cpp_python": version, "llama_cpp_commit": commit or None, "gguf_py": gguf.group(1) if gguf else None}
(folder / "pa_converters.json").write_text(json.dumps(info, indent=2) + "\n")
PY
  rm -rf "$wheels.partial/src" "$wheels"
  mv "$wheels.partial" "$wheels"
fi
# --force-reinstall: pip would keep an already-installed llama-cpp-python of the same version,
# which may be a crashing native build from elsewhere.
python -m pip install --quiet --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl
python -m pip install --quiet "$wheels"/llama_cpp_python-*.whl  # its dependencies
# Where pa looks for the converters (finetune/llama_converters.py): <venv>/share/pa/llama.cpp.
rm -rf .venv/share/pa/llama.cpp && mkdir -p .venv/share/pa
cp -r "$converters" .venv/share/pa/llama.cpp
python -m pip install --quiet -e ".[dev]"
# tmux: the TUI test that drives `pa-tui` in a real terminal needs it (only installed as root).
if [ "$(id -u)" = "0" ]; then
  command -v tmux >/dev/null || (apt-get update && apt-get install -y tmux)
fi
echo "pa is installed in .venv: activate it with '. .venv/bin/activate'"
