# modelgate: one GraphQL API in front of every model registry.
# Build: docker build -t modelgate .    Run: mount a config with [auth] set, e.g.
#   docker run -p 8080:8080 -v $PWD/prod.toml:/etc/modelgate/modelgate.toml modelgate
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MODELGATE_SERVER_HOST=0.0.0.0

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin modelgate

WORKDIR /app
COPY pyproject.toml README.md mkdocs.yml schema.graphql ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY demos ./demos
COPY docs ./docs
COPY config ./config
# The manual, served at /docs: built offline into gateway/ui/docs_site/ before the
# package is installed (again) so the installed package carries it. The image has
# no tests/, so links to test files read as plain text there.
RUN pip install '.[postgres,redis,sagemaker,docs]' \
    && MODELGATE_DOCS_SOURCES=optional NO_MKDOCS_2_WARNING=1 mkdocs build --strict \
    && pip install --no-deps --force-reinstall .

COPY config /etc/modelgate
RUN mkdir -p /app/data && chown modelgate:modelgate /app/data

USER modelgate
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"

ENTRYPOINT ["modelgate"]
CMD ["serve", "--config", "/etc/modelgate/modelgate.toml"]
