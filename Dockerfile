# piston in a FROM scratch image: the static binary and, optionally, a
# package set installed at build time. tools/docker-smoke.sh builds it (base
# image debootstrapped offline), runs it and checks it; README.md has the
# results. test/integration/test_scratch.py runs the same layout -- a root
# holding only the binary and its data -- with chroot and namespaces.
#
#   docker build -t piston .
#   docker build -t piston --build-arg PACKAGES="python bash" \
#       --build-arg PISTON_REPO_URL=https://example.org/piston/index .
#   docker run --privileged -p 2000:2000 piston
#
# README.md, "Running in a container", says which privileges it needs and why.

FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        make gcc musl-tools libbearssl-dev linux-libc-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make piston
# The optional package set goes straight into the data directory (ppman
# without an engine): an empty PACKAGES gives an image without languages.
ARG PACKAGES=""
ARG PISTON_REPO_URL=""
RUN mkdir -p /piston/packages \
    && if [ -n "$PACKAGES" ]; then \
         ./piston ppman --data /piston --repo "$PISTON_REPO_URL" install $PACKAGES; \
       fi

FROM scratch
COPY --from=build /src/piston /usr/bin/piston
COPY --from=build /piston /piston
ENV PISTON_DATA_DIRECTORY=/piston PISTON_BIND_ADDRESS=0.0.0.0:2000
EXPOSE 2000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/piston"]
CMD ["serve"]
