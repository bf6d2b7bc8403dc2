# Dray's image, built from source where registries can be reached:
#     docker build -t dray .
# Where none can (as on our build machines), scripts/image builds the same image offline: it
# builds the binary on the host and uses the stage after "FROM scratch" below, unchanged.

FROM swift:6.3-bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libsqlite3-dev binutils python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY scripts ./scripts
RUN bash -c 'source scripts/lib.sh && build_release_binary && make_rootfs /rootfs .build/release/dray:/usr/local/bin/dray'

# The runtime: the binary (the Swift runtime linked in, Foundation's ICU data cut to root and
# English) and only the libraries ldd lists for it: glibc, libstdc++, SQLite, zlib.
FROM scratch
COPY --from=build /rootfs/ /
ENV PORT=3000
EXPOSE 3000
VOLUME /var/lib/dray
# No curl in here: dray asks its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["/usr/local/bin/dray", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/dray"]
CMD ["serve", "--host", "0.0.0.0"]
