# syntax=docker/dockerfile:1
# The innsight edge agent for NVIDIA Jetson (Orin, JetPack 6 / L4T r36, CUDA 12.6, arm64).
# Build on the Jetson (or with an arm64 builder); run with the NVIDIA runtime:
#
#   docker build -f docker/edge-jetson.Dockerfile -t innsight-edge:jetson .
#   docker run --runtime nvidia -v /etc/innsight:/etc/innsight:ro \
#       -v innsight-edge:/var/lib/innsight-edge innsight-edge:jetson
#
# L4T r36 ships Python 3.10; innsight needs 3.11, taken from the deadsnakes PPA. ONNX Runtime
# GPU for Jetson comes from the Jetson AI Lab index (ORT_EXTRA_INDEX), not PyPI.

ARG L4T_IMAGE=nvcr.io/nvidia/l4t-jetpack:r36.4.0

FROM ${L4T_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHON=python3.11 \
    INNSIGHT_MODELS_DIR=/opt/innsight/models \
    ONNXRUNTIME=onnxruntime-gpu==1.20.0 \
    ORT_EXTRA_INDEX=https://pypi.jetson-ai-lab.io/jp6/cu126
WORKDIR /src
COPY . /src
RUN scripts/image-install.sh /opt/innsight/venv /src edge \
    && rm -rf /root/.cache

FROM ${L4T_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="innsight-edge-jetson" \
      org.opencontainers.image.description="innsight edge agent for NVIDIA Jetson (L4T r36, ONNX Runtime GPU)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.vendor="innsight" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary"
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 libgomp1 \
    && apt-get purge -y software-properties-common gpg-agent \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 innsight \
    && useradd --system --uid 10001 --gid innsight --groups video \
       --home-dir /var/lib/innsight-edge --shell /usr/sbin/nologin innsight \
    && install -d -o innsight -g innsight -m 0750 /var/lib/innsight-edge
COPY --from=build /opt/innsight /opt/innsight
ENV PATH=/opt/innsight/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/innsight-edge \
    INNSIGHT_MODELS_DIR=/opt/innsight/models
USER 10001:10001
WORKDIR /var/lib/innsight-edge
VOLUME ["/var/lib/innsight-edge"]
CMD ["innsight", "edge", "run", "--config", "/etc/innsight/edge.yaml"]
