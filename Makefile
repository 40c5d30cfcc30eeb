# Parley: the two commands a newcomer needs, plus a few for developers.
# Everything real lives in CMake/ctest; this file only strings them along.
# Each target installs what it needs first, then configures CMake with the
# PARLEY_REQUIRE_* options (cmake/ParleyRequire.cmake) of the suites it
# promises, so a missing tool stops the configure step, naming its Debian
# package, instead of leaving a suite out of a run that reports success.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PORT ?= 8080

# CONFIGURE dir type tests bench fuzz: configure with these REQUIRE options.
CONFIGURE = cmake -S . -B $(1) -DCMAKE_BUILD_TYPE=$(2) \
	-DPARLEY_REQUIRE_TESTS=$(3) -DPARLEY_REQUIRE_BENCH=$(4) \
	-DPARLEY_REQUIRE_FUZZ=$(5)

.PHONY: all deps build run test test-asan bench fuzz package clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@$(call CONFIGURE,$(BUILD),RelWithDebInfo,OFF,OFF,OFF) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	@mkdir -p data
	@echo "Parley: open http://localhost:$(PORT)  (Ctrl-C stops it)"
	@$(BUILD)/server/parleyd --port $(PORT) --db data/parley.db

# Every suite but the load tests (label bench: `make bench`).
test:
	@scripts/install-deps.sh --test
	@$(call CONFIGURE,$(BUILD),RelWithDebInfo,ON,OFF,OFF) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE bench

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer
# (not the browser tests, which exercise the web client, not the server).
test-asan:
	@scripts/install-deps.sh --test
	@$(call CONFIGURE,$(BUILD)-asan,Debug,ON,OFF,OFF) \
		-DPARLEY_SANITIZE=address,undefined >/dev/null
	@cmake --build $(BUILD)-asan -j$(JOBS)
	@cd $(BUILD)-asan && ctest --output-on-failure -j$(JOBS) -LE 'e2e|bench'

# Load tests: the generator's smoke tests, then Parley beside a Node.js
# baseline; writes docs/benchmarks.md.
bench:
	@scripts/install-deps.sh --bench
	@$(call CONFIGURE,$(BUILD),RelWithDebInfo,OFF,ON,OFF) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -L bench
	@tests/bench/run.sh $(BUILD)

# Fuzz the command parser and topic matcher (clang's libFuzzer).
fuzz:
	@scripts/install-deps.sh --fuzz
	@$(call CONFIGURE,$(BUILD),RelWithDebInfo,OFF,OFF,ON) >/dev/null
	@tests/fuzz/run.sh

# The Debian package (CPack): $(BUILD)/parley_VERSION_ARCH.deb, with
# parleyd, parley, their man pages, the systemd unit and
# /etc/parley/parley.conf (see README, "Running as a service").
package: build
	@cd $(BUILD) && cpack -G DEB

clean:
	rm -rf $(BUILD) $(BUILD)-asan
