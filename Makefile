# meshdoctor — make run (the main job on an embedded sandbox) and make test.
GO      ?= go
BIN     := bin/meshdoctor
# Version, commit and date from git (release/version.sh says how); VERSION=…
# on the command line overrides the version.
LDFLAGS := -s -w $(shell VERSION='$(VERSION)' release/version.sh ldflags)
FUZZTIME ?= 20s

.PHONY: all build run test lint bench fuzz clean docs dist

all: lint test build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/meshdoctor

# The main job against a sandbox started in-process: every check, then the
# proof of send, receive and acknowledge.
run: build
	./$(BIN) run --sandbox

# Offline, loopback only, a few minutes at most on 2 cores.
test:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Speed and memory targets live here, not in tests.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./mesh ./sandbox ./checks ./suites
	$(GO) run ./internal/benchrun -bin ./$(BIN)

# Short, bounded fuzz runs of what faces the network: the token and chunk-range
# parsers, the sandbox's router and handlers (no input may make it answer 500),
# and the keystore loader (no file may make it panic).
fuzz:
	$(GO) test ./mesh -run '^$$' -fuzz '^FuzzParseToken$$' -fuzztime $(FUZZTIME)
	$(GO) test ./mesh -run '^$$' -fuzz '^FuzzParseChunkRange$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sandbox -run '^$$' -fuzz '^FuzzRouter$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pki -run '^$$' -fuzz '^FuzzParseStore$$' -fuzztime $(FUZZTIME)

# The man pages (docs/man) and the command reference (docs/cli) from the
# commands themselves; a test fails while the committed ones are stale.
docs:
	$(GO) test ./cmd/meshdoctor -count=1 -run '^TestDocsUpToDate$$' -update-docs

# Release archives, .deb/.rpm, SBOMs and checksums into dist/ (release/dist.sh
# says what and how); works on an untagged clone too.
dist:
	release/dist.sh

clean:
	rm -rf bin dist
