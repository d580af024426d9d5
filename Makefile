# The test command of the README: installs what the tests need, then runs
# vet, every test (against real PostgreSQL, MinIO and the AWS CLIs), and
# each fuzz target for a short time.
.PHONY: test deps vet unit fuzz build demo

test: deps vet unit fuzz

deps:
	scripts/test-deps.sh

vet:
	go vet ./...
	@go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	@test -z "$$(gofmt -l cmd internal)" || { gofmt -l cmd internal; echo "gofmt needed"; exit 1; }

unit:
	go test -count=1 -timeout 25m ./...

fuzz:
	scripts/fuzz.sh

build:
	go build -o bin/coffer ./cmd/coffer
