# The everyday commands; CMake does the building.
#   make            build (build/)
#   make check      build and run every test through ctest
#   make check SAN=address,undefined   or   SAN=thread   (own build dirs)
#   make run        the project's main job
#   make bench      the benchmarks
#   make fuzz       every libFuzzer target for FUZZ_SECONDS each (clang,
#                   build-fuzz/, corpora in build-fuzz/corpus/<name>)
#   make install    PREFIX=/usr/local, DESTDIR honoured
PREFIX ?= /usr/local
SAN ?=
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

comma := ,
ifeq ($(SAN),)
BUILD ?= build
CMAKE_FLAGS :=
else
BUILD ?= build-san-$(subst $(comma),-,$(SAN))
CMAKE_FLAGS := -DKC_SANITIZE=$(SAN) -DKC_DEBUG=ON
endif

.PHONY: all deps configure check run bench fuzz install clean

all: configure
	@scripts/build.sh $(BUILD) $(JOBS)

deps:
	@scripts/deps.sh build

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null

check: all
	ctest --test-dir $(BUILD) --output-on-failure --progress -j $(JOBS)

run: all
	@scripts/demo.sh $(BUILD)

bench: all
	$(BUILD)/bench/bench-handoff
	$(BUILD)/bench/bench-kevent
	$(BUILD)/bench/bench-msg
	$(BUILD)/bench/bench-echo
	$(BUILD)/bench/bench-trace
	$(BUILD)/bench/bench-fileio
	bench/relay.sh $(BUILD)

# Each fuzzer runs in turn and keeps its corpus between runs; a seed corpus
# in tests/fuzz/corpus/<name>, if any, is read too.  A crash stops make and
# leaves the input in build-fuzz/artifacts/<name>-crash-*; give it back to
# the fuzzer, or to build*/tests/fuzz/<name>-replay, to run it again.
fuzz:
	@scripts/deps.sh fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DKC_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target kc-fuzzers
	@set -e; for f in $$(cat $(FUZZ_BUILD)/tests/fuzz/fuzzers.txt); do \
	    corpus=$(FUZZ_BUILD)/corpus/$$f; \
	    mkdir -p $$corpus $(FUZZ_BUILD)/artifacts; \
	    seeds=tests/fuzz/corpus/$$f; [ -d $$seeds ] || seeds=; \
	    echo "fuzz: $$f for $(FUZZ_SECONDS)s, corpus $$corpus"; \
	    $(FUZZ_BUILD)/tests/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) \
	        -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$f- $$corpus $$seeds; \
	done

install: all
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf build build-san-* $(FUZZ_BUILD)
