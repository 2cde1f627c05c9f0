# Bulwark's container image: the `bulwark` binary on a slim Debian, run as an unprivileged user.
#   docker build -t bulwark .
#   docker run --rm -p 8844:8844 -v bulwark-home:/var/lib/bulwark \
#     -v $PWD/bulwark.toml:/etc/bulwark/bulwark.toml:ro -v $PWD/tls:/etc/bulwark/tls:ro bulwark
# docs/deploy.md explains the configuration it expects (TLS beyond loopback) and the volumes.

# Build: the release binary, from the locked dependency tree.
FROM rust:1.95-slim-trixie AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked -p bulwark-cli \
 && strip target/release/bulwark

# Run: the binary and CA certificates (for HTTPS upstreams), nothing else.
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 bulwark \
 && useradd --system --uid 10001 --gid bulwark --home-dir /var/lib/bulwark --shell /usr/sbin/nologin bulwark \
 && install -d -m 0700 -o bulwark -g bulwark /var/lib/bulwark
COPY --from=build /src/target/release/bulwark /usr/local/bin/bulwark
USER 10001:10001
ENV BULWARK_HOME=/var/lib/bulwark HOME=/var/lib/bulwark BULWARK_LOG=info
VOLUME ["/var/lib/bulwark"]
EXPOSE 8844
ENTRYPOINT ["/usr/local/bin/bulwark"]
CMD ["serve", "--config", "/etc/bulwark/bulwark.toml"]
