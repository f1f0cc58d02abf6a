# syntax=docker/dockerfile:1
# videogate's container image: the wheel and its dependencies' wheels are built in one stage,
# installed into a slim runtime that runs as an unprivileged user.
#   docker build -t videogate:local .
#   docker run -p 8080:8080 videogate:local            # `videogate serve` on 0.0.0.0:8080
# Compose and Helm use the same image: docs/deployment.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Every dependency ships manylinux wheels (PyAV bundles FFmpeg), so no compiler is needed.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIDEOGATE_HOST=0.0.0.0 \
    VIDEOGATE_PORT=8080 \
    VIDEOGATE_DATA_DIR=/var/lib/videogate/data
# The data dir holds the generated secrets when none are configured, so it is the user's
# own (0700, as the gateway itself insists); `simulated` is the simulated provider's job
# directory, a volume shared by every process in Compose.
RUN groupadd --system --gid "${UID}" videogate \
    && useradd --system --uid "${UID}" --gid videogate --home-dir /var/lib/videogate \
        --shell /usr/sbin/nologin videogate \
    && install -d -o videogate -g videogate -m 0700 \
        /var/lib/videogate /var/lib/videogate/data /var/lib/videogate/simulated
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/videogate-*.whl
USER ${UID}:${UID}
WORKDIR /var/lib/videogate
EXPOSE 8080
# /health answers while the process serves; Kubernetes also probes /ready (docs/deployment.md).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('VIDEOGATE_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["videogate"]
CMD ["serve"]
