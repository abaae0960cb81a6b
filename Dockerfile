# hookctl in a container, for schedules outside GitHub (see examples/k8s/). Build from the
# repository root: docker build -t hookctl:0.2.0 .
# The wheel is built in a first stage, so the image holds neither the sources nor the build tools.
FROM python:3.12.8-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY hookctl ./hookctl
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12.8-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/hookctl-*.whl \
    && rm -rf /wheels \
    && useradd --system --no-log-init --uid 10001 --home-dir /work --create-home hookctl
USER 10001
WORKDIR /work
ENTRYPOINT ["hookctl"]
CMD ["--help"]
