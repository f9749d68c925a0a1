# imapfs — see README.md.
GO      ?= go
BIN     := bin/imapfs
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo devel)

.PHONY: build test lint demo clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/imapfs

# The suite mounts real FUSE file systems and starts Dovecot on loopback;
# .ci/run installs what it needs (fuse3, dovecot-imapd, attr).
test: lint
	$(GO) test -count=1 -timeout 9m ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# Mounts the built-in sample mail on ./mail; Ctrl-C unmounts.
demo: build
	./$(BIN) demo mail

clean:
	rm -rf bin
