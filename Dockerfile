# Byte's runtime image: build the release binary, then copy it into a slim Debian with only
# what it needs at run time (CA roots for Twitch's TLS, curl for the health check).
# Built by docker-compose.yml; `docker build -t bytebot .` works alone too.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# Migrations, the dashboard and the sentiment lexicon are embedded in the binary.
RUN cargo build --release --locked --bin bytebot

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# Not root: the spill log and any local files live in the data dir, owned by this user.
RUN useradd --system --uid 10001 --home-dir /var/lib/bytebot --create-home bytebot
COPY --from=build /src/target/release/bytebot /usr/local/bin/bytebot
USER bytebot
ENV BYTEBOT_HTTP_ADDR=0.0.0.0:8080 \
    BYTEBOT_DATA_DIR=/var/lib/bytebot \
    BYTEBOT_LOG_FORMAT=json
VOLUME /var/lib/bytebot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["bytebot"]
CMD ["run"]
