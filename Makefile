# breakerwatch: the README's test command is `make test`.
GO ?= go

# go.mod's toolchain line names the patched Go release that builds and tests
# the project. A machine may set GOTOOLCHAIN=local in $GOROOT/go.env, which
# silently ignores that line: unless the caller chose otherwise, let the go
# command fetch that release through the module proxy (it is cached in the
# module cache).
export GOTOOLCHAIN ?= auto

# Go tools built by scripts/install-deps.sh (same directory as there).
TOOLS_BIN := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/breakerwatch/bin
STATICCHECK := $(TOOLS_BIN)/staticcheck

.PHONY: test deps toolchain-check vet staticcheck fmt-check tidy-check unit bench-compile check-generated generate

test: deps toolchain-check fmt-check tidy-check vet staticcheck unit bench-compile

# Every Go module in the repository (each directory with a checked-in go.mod).
MODULES := $(sort $(patsubst %/,%,$(dir $(shell git ls-files '*go.mod'))))

# $(call in-modules,CMD) runs CMD in every module's directory and stops at the
# first failure.
in-modules = @set -e; for m in $(MODULES); do echo "[$$m] $(1)"; (cd "$$m" && $(1)) || exit 1; done

deps:
	./scripts/install-deps.sh

# gofmt's own failure (e.g. a syntax error) fails too, not only a file it lists.
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')) || exit 1; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Fails when the go command in use is older than the toolchain line of go.mod
# (e.g. GOTOOLCHAIN=local with an unpatched Go), when a module names another
# toolchain, or when the Dockerfile's builder image is not that same release.
toolchain-check:
	@want=$$(sed -n 's/^toolchain //p' go.mod); have=$$($(GO) env GOVERSION); \
	echo "toolchain: $$have (go.mod wants $$want)"; \
	if [ -z "$$want" ]; then echo "toolchain-check: go.mod has no toolchain line"; exit 1; fi; \
	for m in $(MODULES); do \
	  [ "$$(sed -n 's/^toolchain //p' "$$m/go.mod")" = "$$want" ] || { \
	    echo "toolchain-check: $$m/go.mod's toolchain line is not 'toolchain $$want'"; exit 1; }; \
	done; \
	if [ "$$(printf '%s\n%s\n' "$$want" "$$have" | sort -V | head -1)" != "$$want" ]; then \
	  echo "toolchain-check: $$have is older than go.mod's toolchain $$want (GOTOOLCHAIN=$$GOTOOLCHAIN)"; exit 1; fi; \
	grep -q "^FROM golang:$${want#go}-" Dockerfile || { \
	  echo "toolchain-check: Dockerfile's builder image is not golang:$${want#go}-*"; exit 1; }

# Fails when `go mod tidy` would change go.mod or go.sum of any module.
# (go mod tidy -diff prints the diff and exits non-zero.)
tidy-check:
	$(call in-modules,$(GO) mod tidy -diff)

vet:
	$(call in-modules,$(GO) vet ./...)

# Deprecated APIs kept on purpose are listed in docs/development.md.
staticcheck:
	$(call in-modules,$(STATICCHECK) ./...)

# BREAKERWATCH_REQUIRE_REDIS: the fleet's tests fail (instead of skipping)
# when redis-server is missing, since deps installs it.
unit:
	$(call in-modules,BREAKERWATCH_REQUIRE_REDIS=1 $(GO) test -race -count=1 -timeout 20m ./...)

# The benchmarks compile and each runs once (no timing is judged here).
bench-compile:
	cd bench && $(GO) test -run '^$$' -bench . -benchtime 1x -count=1 ./...

# Fails when a checked-in generated file (dashboard, rules, Kubernetes
# manifests) differs from the generator's output.
check-generated:
	$(GO) test -count=1 -run 'TestGenerated' ./alerts/... ./dashboards/... ./deploy/kubernetes/...

generate:
	$(GO) run ./cmd/breakerwatch generate
