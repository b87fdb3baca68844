# CPU image for the worker and the web (one image, different commands; see docker-compose.yml).
# No data or checkpoints are copied in: models are mounted read-only at run time.
# CUDA variant: build with
#   --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126
# and run the worker service with a GPU reservation (README, "Deployment").
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

RUN useradd --create-home --uid 1000 app
WORKDIR /app

RUN pip install --index-url "$TORCH_INDEX" "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md ./
COPY translator ./translator
COPY worker ./worker
COPY web ./web
COPY data/multi30k.json ./data/multi30k.json
RUN pip install ".[monitor]" && python -c "import translator, worker, web"

USER app
ENV STATE_DIR=/tmp/state
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "64", "--preload", "web.wsgi:app"]
