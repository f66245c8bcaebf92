# syntax=docker/dockerfile:1
# The otelsec collector image: a static binary built with the OpenTelemetry Collector Builder,
# the default configuration and the policies directory, on an empty base.
#
#   docker build -t ghcr.io/otelsec/otelsec:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/otelsec/otelsec:0.1.0 --push .
#
# The BPF objects are compiled and committed (bpf/*.o): the build needs Go only. In Kubernetes
# the DaemonSet (distribution/kubernetes, distribution/helm/otelsec) mounts its own
# configuration at /conf and runs `--config=/conf/config.yaml`.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
COPY tools/go.mod tools/go.sum tools/
RUN go mod download && go mod download -modfile=tools/go.mod
COPY . .
# `make build` = ocb generate, `go mod tidy -e` (see the Makefile), ocb compile. CGO off: a
# static binary that runs on an empty base image.
RUN CGO_ENABLED=0 make build && ./_build/otelsec --version
# /etc/otelsec/policies is where active policies go (empty: nothing is enforced until you
# choose); the policy library (policies/) ships read-only in /usr/share/otelsec/policies, to
# copy from or to list in the runtimepolicy extension's paths. Validate it here too.
RUN go run ./cmd/otelsec policy validate -q policies/ && \
	mkdir -p /out/etc/otelsec/policies /out/usr/share/otelsec/policies && \
	cp _build/otelsec /out/otelsec && \
	cp distribution/config.yaml /out/etc/otelsec/config.yaml && \
	cp policies/*.yaml policies/README.md /out/usr/share/otelsec/policies/

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ /
# Root: loading BPF programs needs CAP_BPF/CAP_PERFMON (or CAP_SYS_ADMIN), which a non-root
# user does not get from the container runtime.
USER 0
ENTRYPOINT ["/otelsec"]
CMD ["--config=/etc/otelsec/config.yaml"]
