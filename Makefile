# breakerwatch: the README's test command is `make test`.
GO ?= go

.PHONY: test deps vet fmt-check tidy-check unit bench-compile check-generated generate

test: deps fmt-check tidy-check vet unit bench-compile

# Every Go module in the repository (each directory with a checked-in go.mod).
MODULES := $(patsubst %/,%,$(dir $(shell git ls-files '*go.mod')))

deps:
	./scripts/install-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Fails when `go mod tidy` would change go.mod or go.sum of any module.
tidy-check:
	@set -e; for m in $(MODULES); do \
	  echo "go mod tidy -diff ($$m)"; \
	  (cd $$m && $(GO) mod tidy -diff) || { echo "go.mod/go.sum of module $$m are not tidy: run 'go mod tidy' in $$m"; exit 1; }; \
	done

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...
	cd bench && $(GO) test -race -count=1 ./...

# The benchmarks compile and each runs once (no timing is judged here).
bench-compile:
	cd bench && $(GO) test -run '^$$' -bench . -benchtime 1x -count=1 ./...

# Fails when the checked-in dashboard and rules differ from the generator's output.
check-generated:
	$(GO) test -count=1 -run 'TestGenerated' ./monitoring/...

generate:
	$(GO) run ./cmd/breakerwatch generate
