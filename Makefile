# Parley: the two commands a newcomer needs, plus a few for developers.
# Everything real lives in CMake/ctest; this file only strings them along.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PORT ?= 8080

.PHONY: all deps build run test test-asan bench fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	@mkdir -p data
	@echo "Parley: open http://localhost:$(PORT)  (Ctrl-C stops it)"
	@$(BUILD)/server/parleyd --port $(PORT) --db data/parley.db

test: build
	@scripts/install-deps.sh --test
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug \
		-DPARLEY_SANITIZE=address,undefined >/dev/null
	@cmake --build $(BUILD)-asan -j$(JOBS)
	@cd $(BUILD)-asan && ctest --output-on-failure -j$(JOBS) -LE e2e

# Load tests: Parley beside a Node.js baseline; writes docs/benchmarks.md.
bench: build
	@tests/bench/run.sh $(BUILD)

# Fuzz the command parser and topic matcher (clang's libFuzzer).
fuzz: deps
	@tests/fuzz/run.sh

clean:
	rm -rf $(BUILD) $(BUILD)-asan
