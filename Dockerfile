# kube-herald: one image for every stage; the command picks the process, e.g.
#   docker run --rm kube-herald:local -c /etc/herald/herald.yaml processor
# compose/docker-compose.yml builds it and runs producer, processor and notifier.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package is built from (pyproject's packages.find list), so
# local state such as .venv, .run or .git never ends up in the image.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY herald ./herald
COPY runtime ./runtime
COPY schemas ./schemas
COPY producer ./producer
COPY processors ./processors
COPY notifiers ./notifiers
RUN pip install --no-cache-dir ".[rocksdb]" \
    && rm -rf build ./*.egg-info

# Unprivileged user; its home is the working directory, where the processor
# (Faust) keeps its local state.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/herald \
        --shell /usr/sbin/nologin herald
USER herald
WORKDIR /var/lib/herald

ENTRYPOINT ["herald"]
CMD ["--help"]
