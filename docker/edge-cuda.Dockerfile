# syntax=docker/dockerfile:1
# The innsight edge agent for a desktop with an NVIDIA GPU (CUDA 12, cuDNN 9): ONNX Runtime GPU
# (TensorRT -> CUDA -> CPU, models/session.py). Run with the NVIDIA container toolkit:
#
#   docker build -f docker/edge-cuda.Dockerfile -t innsight-edge:cuda .
#   docker run --gpus all -v /etc/innsight:/etc/innsight:ro -v innsight-edge:/var/lib/innsight-edge \
#       innsight-edge:cuda
#
# /etc/innsight/edge.yaml is the device's config (innsight provision enroll writes its bundle);
# set data_dir: /var/lib/innsight-edge in it.

ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INNSIGHT_MODELS_DIR=/opt/innsight/models \
    INNSIGHT_BUILD_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple" \
    ONNXRUNTIME=onnxruntime-gpu==1.20.1
WORKDIR /src
COPY . /src
RUN scripts/image-install.sh /opt/innsight/venv /src edge \
    && rm -rf /root/.cache

FROM ${CUDA_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="innsight-edge-cuda" \
      org.opencontainers.image.description="innsight edge agent for CUDA desktops (ONNX Runtime GPU)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.vendor="innsight" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary"
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 libgomp1 \
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
    INNSIGHT_MODELS_DIR=/opt/innsight/models \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video
USER 10001:10001
WORKDIR /var/lib/innsight-edge
VOLUME ["/var/lib/innsight-edge"]
CMD ["innsight", "edge", "run", "--config", "/etc/innsight/edge.yaml"]
