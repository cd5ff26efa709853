# syntax=docker/dockerfile:1
# breakerwatch: a static binary on a distroless base, running as a non-root user.
#
#   docker build -t breakerwatch .
#   docker run --rm -p 127.0.0.1:8000:8000 breakerwatch                # the embedded demo
#   docker run --rm -p 127.0.0.1:8000:8000 -v "$PWD/breakerwatch.yaml:/etc/breakerwatch/config.yaml:ro" \
#       breakerwatch serve --config /etc/breakerwatch/config.yaml
#
# Set the version with --build-arg VERSION=v1.2.3 (default: "devel").

# The same Go release as the toolchain line of go.mod (`make toolchain-check`).
FROM golang:1.26.11-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X github.com/breakerwatch/breakerwatch/internal/version.Version=${VERSION}" \
      -o /out/breakerwatch ./cmd/breakerwatch \
 && /out/breakerwatch version

# distroless/static: no shell, no package manager; CA certificates and
# /etc/passwd with the nonroot user (uid 65532) are included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/breakerwatch /usr/local/bin/breakerwatch
USER nonroot:nonroot
# Inside a container the listener must not be loopback-only. Mutations of the
# admin API from outside the container need BREAKERWATCH_ADMIN_TOKEN.
ENV BREAKERWATCH_LISTEN=0.0.0.0:8000
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/breakerwatch"]
CMD ["serve"]
