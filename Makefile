# azdetect: the two commands a newcomer needs are `make demo` and `make test`.
GO       ?= go
BIN      ?= bin/azdetect
PKGS     ?= ./...
FUZZTIME ?= 20s
# each new interesting input is minimised in at most this many runs: with Go's
# default (60s each) and the pipeline finding new coverage every few dozen
# inputs, FuzzPipeline's workers spent the whole run minimising (35 inputs in
# 25 s; 11,000 with 10x)
FUZZMINIMIZETIME ?= 10x
# Azurite (Table and Blob storage) for the storage tests: pinned, installed
# into .tools/ from npm, started by the tests themselves on free ports.
AZURITE_VERSION ?= 3.37.0
AZURITE_DIR     ?= .tools/azurite
# One build configuration for everything: the static, path-trimmed binary
# Azure runs (make package) is built like the tests and the demo, so they
# share Go's build cache and the package test only links.
export CGO_ENABLED ?= 0
export GOFLAGS     ?= -trimpath

.PHONY: all build demo test vet fmt bench bench-serve bench-serve-instructions bench-instructions bench-memory bench-parallel fuzz azurite clean simulate

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./handler

## demo: scan the bundled attack story on the embedded default (no cloud)
demo: build
	@echo "== azdetect scan testdata/demo (an attack story; see testdata/demo/README.md)"
	@./$(BIN) scan --format table testdata/demo; status=$$?; [ $$status -le 1 ] || exit $$status

## test: vet and the whole test suite (rule tests included; storage tests on Azurite)
test:
	@AZURITE_VERSION=$(AZURITE_VERSION) AZURITE_DIR=$(AZURITE_DIR) scripts/azurite.sh --optional
	$(GO) vet $(PKGS)
	$(GO) test -count=1 $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)

## simulate: SIMULATE_INSTANCES serve processes on one Azurite table, one Event Hub
## partition each, with attacks spread over all of them, redeliveries and a kill
## (internal/scale); prints records/s, Table requests and conflicts, alerts
SIMULATE_INSTANCES ?= 16
SIMULATE_RECORDS   ?= 300
simulate:
	@AZURITE_VERSION=$(AZURITE_VERSION) AZURITE_DIR=$(AZURITE_DIR) scripts/azurite.sh
	AZURITE_REQUIRED=1 AZDETECT_SIMULATE_INSTANCES=$(SIMULATE_INSTANCES) AZDETECT_SIMULATE_RECORDS=$(SIMULATE_RECORDS) \
		$(GO) test -count=1 -run 'TestSimulate$$' -v -timeout 30m ./internal/scale/

## bench: the whole pipeline beside the stdlib json.Valid of the same bytes
## (benchcorpus: a realistic mix of every source; fresh state each iteration)
bench:
	$(GO) test -run '^$$' -bench 'Pipeline|JSONValid' -benchmem -cpu 1 -count=1 -benchtime 5x ./internal/pipeline/ | tee bench.out
	@$(GO) run ./internal/pipeline/benchratio < bench.out

## bench-serve: serve's CPU per 1,000-record Event Hub batch, posted over
## loopback HTTP in the host's shape, memory state, after BENCH_SERVE_WARM
## batches (BenchmarkServe), and serve's own part alone (BenchmarkServeOverhead)
BENCH_SERVE_BATCHES ?= 20
BENCH_SERVE_WARM    ?= 10
bench-serve:
	AZDETECT_BENCH_WARM=$(BENCH_SERVE_WARM) $(GO) test -run '^$$' -bench 'Serve' -benchtime $(BENCH_SERVE_BATCHES)x -count=1 ./handler/

## bench-serve-instructions: BenchmarkServe's instructions per batch under
## valgrind's callgrind (counted for the measured batches alone; a loaded
## machine does not change them); BENCH_DIR keeps the profile
bench-serve-instructions:
	@BATCHES=$(BENCH_SERVE_BATCHES) scripts/bench-serve-instructions.sh

## bench-memory: peak memory of scan on malformed, bomb and large inputs against their bounds (generated, ~2 GB of temp disk)
bench-memory:
	@scripts/bench-memory.sh

## bench-instructions: instructions per record of `azdetect scan` and of
## json.Valid on the same lines, under valgrind's callgrind, by source
## (BENCH_RECORDS records in the mix; BENCH_DIR keeps the profiles)
BENCH_RECORDS ?= 3000
bench-instructions: build
	@command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind"; exit 1; }
	$(GO) build -o bin/benchratio ./internal/pipeline/benchratio
	./bin/benchratio instructions -bin $(BIN) -records $(BENCH_RECORDS) $(if $(BENCH_DIR),-dir $(BENCH_DIR) -keep)

## bench-parallel: the speed-up of `azdetect scan` on two cores over one
## (GOMAXPROCS=2 against 1, best of BENCH_RUNS each, alternating) for a
## folder of files and one large gzip'd PT1H.json of BENCH_PARALLEL_RECORDS
## records; the load average is printed beside (a shared machine skews it),
## and the CPU each pipeline stage took in one profiled run of each setting
## (BENCH_PARALLEL_FLAGS=-instructions adds the load-independent figures:
## each case's instructions on 1 and 2 cores under callgrind, the start-up's,
## and the speed-up they allow; a few minutes more)
BENCH_RUNS             ?= 10
BENCH_PARALLEL_RECORDS ?= 20000
BENCH_PARALLEL_FLAGS   ?=
bench-parallel: build
	$(GO) build -o bin/benchratio ./internal/pipeline/benchratio
	./bin/benchratio parallel -bin $(BIN) -records $(BENCH_PARALLEL_RECORDS) -runs $(BENCH_RUNS) $(BENCH_PARALLEL_FLAGS)

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	@for pkg in $$($(GO) list ./internal/...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg || exit 1; \
	  done; \
	done

## azurite: install the pinned Azurite from npm into .tools/azurite (a no-op when installed)
azurite:
	@AZURITE_VERSION=$(AZURITE_VERSION) AZURITE_DIR=$(AZURITE_DIR) scripts/azurite.sh

clean:
	rm -rf bin dist bench.out

-include infra/publish.mk
