# One image per OMS service: docker build --build-arg SERVICE=order -t oms-order .
# The container runs `python -m oms_<SERVICE> worker` (docker-compose.yml passes the command).
FROM python:3.11-slim

ARG SERVICE
ARG UV_VERSION=0.13.8

RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<order|inventory|...>" >&2; exit 1; } \
 && pip install --no-cache-dir "uv==${UV_VERSION}" \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin oms

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:${PATH}" \
    OMS_SERVICE=${SERVICE} \
    OMS_HTTP_HOST=0.0.0.0

WORKDIR /app
# The whole workspace: uv resolves the service against the workspace's lock file.
COPY . /app/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "oms-${SERVICE}" \
 && python -c "import importlib, os; importlib.import_module('oms_' + os.environ['OMS_SERVICE'])"

USER oms
CMD ["sh", "-c", "exec python -m \"oms_${OMS_SERVICE}\" worker"]
