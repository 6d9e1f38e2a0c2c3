# tunebot on a CUDA GPU host. Installs with the same script as `make`, so both stay in step.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 tunebot

WORKDIR /app
COPY --chown=10001:10001 . /app
USER 10001
# The CUDA build of torch; scripts/install.sh pins it before the project so nothing replaces it.
ENV TORCH_SPEC="torch==2.13.0" PYTHON=python3
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
