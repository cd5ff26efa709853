# breakerwatch: the README's test command is `make test`.
GO ?= go

# go.mod's toolchain line names the patched Go release that builds and tests
# the project. A machine may set GOTOOLCHAIN=local in $GOROOT/go.env, which
# silently ignores that line: unless the caller chose otherwise, let the go
# command fetch that release through the module proxy (it is cached in the
# module cache).
export GOTOOLCHAIN ?= auto

.PHONY: test deps toolchain-check vet fmt-check tidy-check unit bench-compile check-generated generate

test: deps toolchain-check fmt-check tidy-check vet unit bench-compile

# Every Go module in the repository (each directory with a checked-in go.mod).
MODULES := $(patsubst %/,%,$(dir $(shell git ls-files '*go.mod')))

deps:
	./scripts/install-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# deploy/kubernetes/validation is a module of its own (the Kubernetes types
# are heavy): vetted, tested and kept tidy here like bench/.
K8S_VALIDATION = deploy/kubernetes/validation

# Fails when the go command in use is older than the toolchain line of go.mod
# (e.g. GOTOOLCHAIN=local with an unpatched Go), or when the Dockerfile's
# builder image is not that same release.
toolchain-check:
	@want=$$(sed -n 's/^toolchain //p' go.mod); have=$$($(GO) env GOVERSION); \
	echo "toolchain: $$have (go.mod wants $$want)"; \
	if [ -z "$$want" ]; then echo "toolchain-check: go.mod has no toolchain line"; exit 1; fi; \
	if [ "$$(printf '%s\n%s\n' "$$want" "$$have" | sort -V | head -1)" != "$$want" ]; then \
	  echo "toolchain-check: $$have is older than go.mod's toolchain $$want (GOTOOLCHAIN=$$GOTOOLCHAIN)"; exit 1; fi; \
	grep -q "^FROM golang:$${want#go}-" Dockerfile || { \
	  echo "toolchain-check: Dockerfile's builder image is not golang:$${want#go}-*"; exit 1; }

# Fails when `go mod tidy` would change go.mod or go.sum of any module.
tidy-check:
	@set -e; for m in $(MODULES); do \
	  echo "go mod tidy -diff ($$m)"; \
	  (cd $$m && $(GO) mod tidy -diff) || { echo "go.mod/go.sum of module $$m are not tidy: run 'go mod tidy' in $$m"; exit 1; }; \
	done

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd $(K8S_VALIDATION) && $(GO) mod tidy -diff && $(GO) vet ./...

# BREAKERWATCH_REQUIRE_REDIS: the fleet's tests fail (instead of skipping)
# when redis-server is missing, since deps installs it.
unit:
	BREAKERWATCH_REQUIRE_REDIS=1 $(GO) test -race -count=1 -timeout 20m ./...
	cd bench && $(GO) test -race -count=1 ./...
	cd $(K8S_VALIDATION) && $(GO) test -race -count=1 ./...

# The benchmarks compile and each runs once (no timing is judged here).
bench-compile:
	cd bench && $(GO) test -run '^$$' -bench . -benchtime 1x -count=1 ./...

# Fails when a checked-in generated file (dashboard, rules, Kubernetes
# manifests) differs from the generator's output.
check-generated:
	$(GO) test -count=1 -run 'TestGenerated' ./alerts/... ./dashboards/... ./deploy/kubernetes/...

generate:
	$(GO) run ./cmd/breakerwatch generate
