# tunebot on a CUDA GPU host. Installs with the same script as `make`, from the same lock files.
# torch 2.13.0's wheels on PyPI are built for CUDA 13 (they bring their own CUDA libraries and need
# an NVIDIA driver >= 580); the base image is CUDA 13 too, and the build checks that the two agree.
FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 tunebot \
 && install -d -o 10001 -g 10001 /app

WORKDIR /app
USER 10001
ENV TORCH_SPEC="torch==2.13.0" PYTHON=python3
# The dependencies first, from the lock alone: a change to tunebot's code reuses this layer.
COPY --chown=10001:10001 scripts/install.sh /app/scripts/
COPY --chown=10001:10001 requirements/runtime.lock /app/requirements/
RUN DEPS_ONLY=1 scripts/install.sh /app/.venv \
 && /app/.venv/bin/python -c "import os, torch; want = os.environ['CUDA_VERSION'].split('.')[0]; got = (torch.version.cuda or 'none').split('.')[0]; assert got == want, f'torch is built for CUDA {got}, the image has CUDA {want}'"
COPY --chown=10001:10001 . /app
RUN scripts/install.sh /app/.venv

ENV PATH="/app/.venv/bin:$PATH" \
    TUNEBOT_DATA_DIR=/data \
    TUNEBOT_HOST=0.0.0.0 \
    TUNEBOT_PORT=3000 \
    HF_HOME=/data/huggingface
# No HF_HUB_OFFLINE here: tunebot sets it for every command but `tunebot model pull`.
VOLUME ["/data"]
EXPOSE 3000
# /healthz answers once the model is loaded and its decoding step compiled (minutes for an 8B model).
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s \
  CMD ["curl", "-fsS", "http://127.0.0.1:3000/healthz"]
CMD ["tunebot", "serve"]
