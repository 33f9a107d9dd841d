# syntax=docker/dockerfile:1
# The innsight hub: REST API + MQTT ingest (`innsight hub serve`), as compose.hub.yml runs it.
#
#   docker build -t innsight-hub:latest .
#   docker run --rm -p 8000:8000 -v innsight-hub:/var/lib/innsight innsight-hub:latest
#   docker exec -it <container> innsight hub init        # the first administrator
#
# Stage 1 installs innsight[hub] into /opt/innsight/venv and prepares every packaged model in
# /opt/innsight/models with scripts/image-install.sh (the exact steps CI runs in a fresh venv);
# the exporters' torch venv stays in this stage. Stage 2 is python:slim with the OCR engine,
# the venv and the models, run as an unprivileged user.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INNSIGHT_MODELS_DIR=/opt/innsight/models \
    INNSIGHT_BUILD_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple"
WORKDIR /src
COPY . /src
RUN scripts/image-install.sh /opt/innsight/venv /src hub \
    && rm -rf /root/.cache

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="innsight-hub" \
      org.opencontainers.image.description="innsight hub: on-premise hotel AI (REST API, MQTT ingest, vision, ML, assistant)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="innsight" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.documentation="README.md, docs/api.md"

# Tesseract with Vietnamese for /api/v1/cv/ocr; libgomp for LightGBM and ONNX Runtime.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-vie libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 innsight \
    && useradd --system --uid 10001 --gid innsight --home-dir /var/lib/innsight \
       --shell /usr/sbin/nologin innsight \
    && install -d -o innsight -g innsight -m 0750 /var/lib/innsight

COPY --from=build /opt/innsight /opt/innsight

ENV PATH=/opt/innsight/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/innsight \
    INNSIGHT_DATA_DIR=/var/lib/innsight \
    INNSIGHT_MODELS_DIR=/opt/innsight/models \
    INNSIGHT_API_HOST=0.0.0.0 \
    INNSIGHT_API_PORT=8000

USER 10001:10001
WORKDIR /var/lib/innsight
VOLUME ["/var/lib/innsight"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/cv/health', timeout=4)"]

CMD ["innsight", "hub", "serve"]
