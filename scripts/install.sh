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

# pip's own wheel cache ignores CMAKE_ARGS, so keep our build in a cache keyed by them.
key=$(printf '%s %s %s' "$LLAMA_CPP_VERSION" "$LLAMA_CMAKE_ARGS" "$(uname -m)" | sha256sum | cut -c1-16)
wheels="${PA_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pa-wheels}/llama-cpp-$key"
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $LLAMA_CPP_VERSION from source (several minutes, once)..."
  mkdir -p "$wheels.partial"
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    python -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$wheels.partial" "llama-cpp-python==$LLAMA_CPP_VERSION"
  rm -rf "$wheels" && mv "$wheels.partial" "$wheels"
fi
# --force-reinstall: pip would keep an already-installed llama-cpp-python of the same version,
# which may be a crashing native build from elsewhere.
python -m pip install --quiet --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl
python -m pip install --quiet "$wheels"/llama_cpp_python-*.whl  # its dependencies
python -m pip install --quiet -e ".[dev]"
# tmux: the TUI test that drives `pa-tui` in a real terminal needs it (only installed as root).
if [ "$(id -u)" = "0" ]; then
  command -v tmux >/dev/null || (apt-get update && apt-get install -y tmux)
fi
echo "pa is installed in .venv: activate it with '. .venv/bin/activate'"
