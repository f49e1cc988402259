# vigil: build, run the demo, test, benchmark, lint.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# golangci-lint, built from the Go module proxy by `go run` (no prebuilt binary); .golangci.yml configures it.
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

.PHONY: build run test bench bench-fdlimit bench-go lint consul clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/vigil ./cmd/vigil
	$(GO) build -o bin/fleetsim ./cmd/fleetsim

## run: vigil on its embedded defaults (a simulated fleet; dashboard on http://127.0.0.1:8080/)
run: build
	./bin/vigil demo

## consul: build a real Consul agent into bin/consul for the tests (skipped when present)
consul:
	bash scripts/consul.sh

## test: lint, then every test with the race detector, against a real Consul agent
test: consul lint
	$(GO) test -race -count=1 -timeout 20m ./...

## bench: Go micro-benchmarks, then the fleet benchmark (writes BENCHMARKS.md)
bench: consul build bench-go
	$(GO) run ./cmd/benchfleet -out BENCHMARKS.md

## bench-fdlimit: 25,000 instances every 5 s under a 20,000 open-file limit (BENCHMARKS.md's notes give the numbers)
bench-fdlimit: build
	$(GO) run ./cmd/benchfleet -sizes 25000 -interval 5s -timeout 1s -nofile 20000 -baseline=false

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./aggregator/... ./membership/ ./xds/ ./replicas/ | tee bin/bench-go.txt

## lint: gofmt, go vet, then golangci-lint (the first run compiles it: 1–3 minutes)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(GOLANGCI_LINT) run ./...

clean:
	rm -rf bin
