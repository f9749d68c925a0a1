# imapfs — see README.md.
GO      ?= go
BIN     := bin/imapfs
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo devel)

# make install [PREFIX=/usr/local] [DESTDIR=...] installs the command, the
# man page and the mount helper. mount(8) looks for helpers in /sbin only,
# whatever the prefix, so the helper (a link to the command) goes there.
PREFIX         ?= /usr/local
DESTDIR        ?=
BINDIR         ?= $(PREFIX)/bin
MANDIR         ?= $(PREFIX)/share/man
MOUNTHELPERDIR ?= /sbin
MD2MAN         ?= $(GO) run github.com/cpuguy83/go-md2man/v2@v2.0.7

.PHONY: build test lint demo bench clean install uninstall man

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/imapfs

# The suite mounts real FUSE file systems and starts Dovecot on loopback;
# .ci/run installs what it needs (fuse3, dovecot-imapd, attr).
test: lint
	$(GO) test -count=1 -timeout 9m ./...

# gofmt, go vet, and the macOS builds (macFUSE; see README.md).
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin GOARCH=amd64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...

# Measures the mount against Dovecot behind a latency proxy, beside the
# bulk-fetch bound and mbsync (about six minutes; not part of test). Writes
# cmd/imapfs-bench/results/ and the README's performance section.
# BENCHFLAGS=-quick for a short run while developing.
bench: build
	$(GO) run ./cmd/imapfs-bench -imapfs $(BIN) $(BENCHFLAGS)

# Mounts the built-in sample mail on ./mail; Ctrl-C unmounts.
demo: build
	./$(BIN) demo mail

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MOUNTHELPERDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/imapfs
	install -m 0644 cmd/imapfs/imapfs.1 $(DESTDIR)$(MANDIR)/man1/imapfs.1
	ln -sf $(BINDIR)/imapfs $(DESTDIR)$(MOUNTHELPERDIR)/mount.imapfs

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/imapfs $(DESTDIR)$(MANDIR)/man1/imapfs.1 $(DESTDIR)$(MOUNTHELPERDIR)/mount.imapfs

# Regenerates the man page from its Markdown source (needs the Go module proxy).
man:
	$(MD2MAN) -in cmd/imapfs/imapfs.1.md -out cmd/imapfs/imapfs.1

clean:
	rm -rf bin
