# The everyday commands; CMake does the building.
#   make            build (build/)
#   make check      build and run every test through ctest
#   make check SAN=address,undefined   or   SAN=thread   (own build dirs)
#   make run        the project's main job
#   make bench      the benchmarks
#   make install    PREFIX=/usr/local, DESTDIR honoured
PREFIX ?= /usr/local
SAN ?=
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

comma := ,
ifeq ($(SAN),)
BUILD ?= build
CMAKE_FLAGS :=
else
BUILD ?= build-san-$(subst $(comma),-,$(SAN))
CMAKE_FLAGS := -DKC_SANITIZE=$(SAN) -DKC_DEBUG=ON
endif

.PHONY: all deps configure check run bench install clean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh build

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null

check: all
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

run: all
	$(BUILD)/bench/bench-handoff

bench: all
	$(BUILD)/bench/bench-handoff
	$(BUILD)/bench/bench-kevent

install: all
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf build build-san-*
