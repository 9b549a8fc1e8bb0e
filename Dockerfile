# Tracer as a node agent image: build.sh builds out/tracer, the runtime stage carries only what it loads and runs.
#   docker build -t REGISTRY/tracer:TAG .

# Debian 12 for both stages: out/tracer links against the build machine's glibc, and build.sh installs Debian
# package names. The official .NET 10 SDK images are Ubuntu-based (no Debian ones), so the SDK is taken from
# there; it is a portable build that runs on Debian 12 given CA certificates (NuGet) and ICU.
FROM debian:12 AS build
COPY --from=mcr.microsoft.com/dotnet/sdk:10.0 /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
 && apt-get update && apt-get install -y --no-install-recommends ca-certificates libicu72 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Installs clang-19, libbpf-dev, ... through scripts/install-packages.sh (bookworm's own apt sources), then publishes.
RUN ./build.sh

FROM debian:12-slim
# libbpf1, libnftables1, libmnl0, libnftnl11: dlopened by tracer (libbpf1 brings libelf1 and zlib1g).
# iproute2 (ip, tc) and iptables (iptables-legacy): run by attribution to name tc programs and legacy iptables rules.
# libssl3 and ca-certificates: an https:// OTLP endpoint (.NET loads libssl at run time).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 libnftables1 libmnl0 libnftnl11 iproute2 iptables libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/out/tracer /usr/local/bin/tracer
ENTRYPOINT ["tracer"]
CMD ["daemon"]
