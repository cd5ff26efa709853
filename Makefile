# breakerwatch: the README's test command is `make test`.
GO ?= go

.PHONY: test deps vet fmt-check unit bench-compile check-generated generate

test: deps fmt-check vet unit bench-compile

deps:
	./scripts/install-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# deploy/kubernetes/validation is a module of its own (the Kubernetes types
# are heavy): vetted, tested and kept tidy here like bench/.
K8S_VALIDATION = deploy/kubernetes/validation

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd $(K8S_VALIDATION) && $(GO) mod tidy -diff && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...
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
