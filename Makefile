# fhirgw: FHIR R4 interoperability gateway.
GO        ?= go
BIN       := bin/fhirgw
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FHIR_PKG  := hl7.fhir.r4.examples
FHIR_VER  := 4.0.1
FHIR_DIR  := .cache/fhir/$(FHIR_PKG)-$(FHIR_VER)

.PHONY: all build run test fhir-examples generate bench bench-go bench-load bench-load-run bench-search bench-writecost bench-mllp fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/fhirgw

# Serve on the embedded store in ./data.
run: build
	./$(BIN) serve

# The official R4 examples (CC0) are test input and generator input; fetched, never committed.
fhir-examples: $(FHIR_DIR)/package/package.json

$(FHIR_DIR)/package/package.json:
	mkdir -p $(FHIR_DIR)
	cd $(FHIR_DIR) && npm pack --silent $(FHIR_PKG)@$(FHIR_VER) >/dev/null && tar xzf $(FHIR_PKG)-$(FHIR_VER).tgz && rm -f $(FHIR_PKG)-$(FHIR_VER).tgz
	touch $@

# Regenerate code derived from the FHIR definitions.
generate: fhir-examples
	$(GO) generate ./...

test: fhir-examples
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

# Every figure: the Go benchmarks (parser, FHIRPath, validation, write cost of indexing),
# then the search figures on the synthetic population (loaded once; see bench-load).
bench: bench-go bench-load bench-search

bench-go: fhir-examples build
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Search figures on a synthetic population (50,000 patients, 1.25 M resources) in
# PostgreSQL: bench-load once (about 20 minutes here), then bench-search. BENCHMARKS.md.
BENCH_DB  ?= postgres://postgres@127.0.0.1:5432/fhirgw_load?sslmode=disable
BENCH_URL ?= http://127.0.0.1:8091
BENCH_RESOURCES := 1250750
bench-load: build
	@n=$$(psql '$(BENCH_DB)' -Atc 'SELECT count(*) FROM resources' 2>/dev/null || echo 0); \
	if [ "$$n" -ge $(BENCH_RESOURCES) ]; then echo "bench-load: fhirgw_load already holds $$n resources"; exit 0; fi; \
	$(MAKE) --no-print-directory bench-load-run

bench-load-run:
	psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE fhirgw_load' postgres || true
	./$(BIN) serve --http-addr 127.0.0.1:8091 --mllp-addr '' --database-url '$(BENCH_DB)' --log-level warn & echo $$! > .bench.pid; sleep 3; \
	./$(BIN) bench load --target $(BENCH_URL) --patients 50000 --obs 20 --concurrency 8 --seed 1 --analyze-database-url '$(BENCH_DB)'; \
	kill $$(cat .bench.pid); rm -f .bench.pid

bench-search: build
	./$(BIN) serve --http-addr 127.0.0.1:8091 --mllp-addr '' --database-url '$(BENCH_DB)' --log-level warn & echo $$! > .bench.pid; sleep 3; \
	./$(BIN) bench search --target $(BENCH_URL) --patients 50000 --duration 20s --concurrency 1 --total none; \
	kill $$(cat .bench.pid); rm -f .bench.pid

# MLLP ingestion figure on a fresh PostgreSQL database over its Unix socket, then the
# least PostgreSQL can spend writing what that run wrote (testdata/bench/pg-floor.sql,
# run as the superuser postgres: it reads the backend's CPU time from /proc).
MLLP_DB   := fhirgw_mllp_bench
MLLP_ARGS ?= --connections 8 --duration 20s
bench-mllp: build
	psql -h /var/run/postgresql -U postgres -qc 'DROP DATABASE IF EXISTS $(MLLP_DB)' -c 'CREATE DATABASE $(MLLP_DB)' postgres
	./$(BIN) serve --http-addr 127.0.0.1:8092 --mllp-addr 127.0.0.1:2592 --log-level warn \
	  --database-url 'postgres://postgres@/$(MLLP_DB)?host=/var/run/postgresql&sslmode=disable' & echo $$! > .bench.pid; sleep 3; \
	./$(BIN) bench mllp --target 127.0.0.1:2592 --metrics-url http://127.0.0.1:8092/metrics $(MLLP_ARGS); \
	kill $$(cat .bench.pid); wait; rm -f .bench.pid
	psql -h /var/run/postgresql -U postgres -d $(MLLP_DB) -qf testdata/bench/pg-floor.sql
	psql -h /var/run/postgresql -U postgres -qc 'DROP DATABASE $(MLLP_DB) WITH (FORCE)' postgres

bench-writecost:
	$(GO) test -run '^$$' -bench WriteCost -benchtime 200x ./conformance/loadgen

# Fuzz every parser briefly (FUZZTIME each); seed corpora live in the packages' testdata.
FUZZTIME ?= 20s
fuzz: fhir-examples
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for t in $$(grep -h '^func Fuzz' $$f/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== $$f $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s $$f || exit 1; \
	  done; \
	done

clean:
	rm -rf bin .cache
