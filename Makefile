# breakerwatch: the README's test command is `make test`.
GO ?= go

.PHONY: test deps vet fmt-check unit bench-compile check-generated generate

test: deps fmt-check vet unit bench-compile

deps:
	./scripts/install-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

# BREAKERWATCH_REQUIRE_REDIS: the fleet's tests fail (instead of skipping)
# when redis-server is missing, since deps installs it.
unit:
	BREAKERWATCH_REQUIRE_REDIS=1 $(GO) test -race -count=1 -timeout 20m ./...
	cd bench && $(GO) test -race -count=1 ./...

# The benchmarks compile and each runs once (no timing is judged here).
bench-compile:
	cd bench && $(GO) test -run '^$$' -bench . -benchtime 1x -count=1 ./...

# Fails when the checked-in dashboard and rules differ from the generator's output.
check-generated:
	$(GO) test -count=1 -run 'TestGenerated' ./monitoring/...

generate:
	$(GO) run ./cmd/breakerwatch generate
