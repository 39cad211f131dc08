# Everyday targets. CI runs `bash scripts/test.sh` (see README).
.PHONY: build test lint e2e
build:
	go build -o bitnobi ./cmd/bitnobi
test:
	bash scripts/test.sh
lint:
	gofmt -l . && go vet ./...
e2e:
	go test -race -count=1 -run 'E2E|EndToEnd' ./cmd/...
