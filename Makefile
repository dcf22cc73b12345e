# ngx_http_attest_module: build, test, demo.
#
#   make          install the missing build packages (setup-deps.sh build),
#                 build the module, the attest-verify tool and the core's
#                 unit tests into build/
#   make test     also install the test packages (make test-deps), then
#                 run every test through prove
#   make test-deps  the test-only packages (setup-deps.sh test) and the
#                 OpenAI Node SDK for t/40-openai-sdk.t (npm, t/node)
#   make demo     a local attested upstream behind nginx, two requests
#                 (KEEP=1 leaves it running; make demo-stop stops it)
#   make test-valgrind  a subset of the nginx tests with nginx's master and
#                 workers under valgrind; fails on an invalid access or a
#                 module leak (VALGRIND_TESTS picks the tests)
#   make bench    benchmarks against plain proxy_pass (bench/)
#   make bench-core  microbenchmarks of Keccak-256 and the response hash
#   make bench-fleet  4 machines against 1 (bench/fleet.pl)
#   make fuzz     the libFuzzer targets for 20 s each (setup-deps.sh fuzz)
#
# No target starts, stops or disables a system service.

BUILD      := build
NGX_SRC    ?= /usr/share/nginx/src
PYTHON     ?= /usr/bin/python3
PROVE      ?= prove

CC         ?= cc
CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Wno-unused-parameter
CPPFLAGS   += -Isrc/core
LDLIBS     := -lsecp256k1 -lyajl -lcrypto

CORE_SRCS  := $(wildcard src/core/*.c)
CORE_HDRS  := $(wildcard src/core/*.h)
CORE_OBJS  := $(CORE_SRCS:src/core/%.c=$(BUILD)/core/%.o)
NGX_SRCS   := $(wildcard src/ngx/*.c) $(wildcard src/ngx/*.h)
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
VEC_GENS   := $(wildcard tests/vectors/gen_*.py)
VEC_STAMPS := $(VEC_GENS:tests/vectors/gen_%.py=$(BUILD)/vectors/%.stamp)

MODULE     := $(BUILD)/ngx_http_attest_module.so
TOOL       := $(BUILD)/attest-verify
DEPS_STAMP := $(BUILD)/.deps
TDEPS_STAMP := $(BUILD)/.deps-test
FDEPS_STAMP := $(BUILD)/.deps-fuzz

.PHONY: all deps test-deps fuzz-deps module tool unit vectors test demo \
        demo-stop bench bench-core bench-fleet fuzz install clean node-deps \
        test-valgrind

all: deps module tool unit

deps: $(DEPS_STAMP)

$(DEPS_STAMP): scripts/setup-deps.sh
	@mkdir -p $(BUILD)
	./scripts/setup-deps.sh build
	@touch $@

test-deps: $(TDEPS_STAMP) node-deps

$(TDEPS_STAMP): scripts/setup-deps.sh
	@mkdir -p $(BUILD)
	BUILD=$(CURDIR)/$(BUILD) ./scripts/setup-deps.sh test
	@touch $@

fuzz-deps: $(FDEPS_STAMP)

$(FDEPS_STAMP): scripts/setup-deps.sh
	@mkdir -p $(BUILD)
	./scripts/setup-deps.sh fuzz
	@touch $@

module: $(MODULE)

$(MODULE): $(DEPS_STAMP) config $(CORE_SRCS) $(CORE_HDRS) $(NGX_SRCS)
	./scripts/build-module.sh $(NGX_SRC) $(BUILD)

tool: $(TOOL)

$(BUILD)/core/%.o: src/core/%.c $(CORE_HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -c -o $@ $<

$(BUILD)/libattest.a: $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

TOOL_SRCS  := $(wildcard tools/*.c)

$(TOOL): $(TOOL_SRCS) $(wildcard tools/*.h) $(BUILD)/libattest.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Itools -o $@ $(TOOL_SRCS) \
		$(BUILD)/libattest.a $(LDLIBS)

unit: $(UNIT_BINS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tap.h $(BUILD)/libattest.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(BUILD)/libattest.a $(LDLIBS)

vectors: $(VEC_STAMPS)

$(BUILD)/vectors/%.stamp: tests/vectors/gen_%.py $(wildcard t/upstream/*.py) \
		$(TDEPS_STAMP)
	@mkdir -p $(dir $@)
	$(PYTHON) $< $(BUILD)/vectors
	@touch $@

# t/node/node_modules as pinned by the lock file; the stamp lives inside
# node_modules so that removing the directory reinstalls
NODE_DIR   := t/node
NODE_STAMP := $(NODE_DIR)/node_modules/.attest-stamp

node-deps: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json \
		$(wildcard $(NODE_DIR)/package-lock.json) $(TDEPS_STAMP)
	@if ! command -v npm >/dev/null 2>&1; then \
	    echo "node-deps: npm not found (scripts/setup-deps.sh test" \
	         "installs nodejs and npm when node is missing)" >&2; \
	    exit 1; \
	fi
	if [ -f $(NODE_DIR)/package-lock.json ]; then \
	    npm ci --no-audit --no-fund --prefix $(NODE_DIR); \
	else \
	    npm install --no-audit --no-fund --prefix $(NODE_DIR); \
	fi
	@touch $@

# build/bin first on PATH: promtool when it was unpacked there
test: all test-deps vectors
	PATH="$(CURDIR)/$(BUILD)/bin:$$PATH" $(PROVE) -f $(UNIT_BINS) t/*.t

# nginx under valgrind (t/lib/AttestTest.pm honours ATTEST_VALGRIND=DIR):
# the tests must pass and scripts/valgrind-check.pl must find no invalid
# read, write or free and no error or definite leak in the module
VALGRIND_TESTS ?= t/10-gateway.t t/15-buffered.t t/60-adversary.t \
                  t/61-adversary-sse.t \
                  t/63-adversary-redirect.t
VALGRIND_DIR   := $(BUILD)/valgrind/nginx

test-valgrind: all test-deps vectors
	rm -rf $(VALGRIND_DIR)
	ATTEST_VALGRIND=$(CURDIR)/$(VALGRIND_DIR) $(PROVE) $(VALGRIND_TESTS); \
	    rc=$$?; perl scripts/valgrind-check.pl $(VALGRIND_DIR) && exit $$rc

demo: all $(TDEPS_STAMP)
	./scripts/demo.sh $(if $(KEEP),--keep)

demo-stop:
	./scripts/demo.sh --stop

bench: all $(TDEPS_STAMP) $(BUILD)/bench/bench_core
	./bench/run.sh

$(BUILD)/bench/bench_core: bench/bench_core.c $(CORE_HDRS) $(BUILD)/libattest.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(BUILD)/libattest.a $(LDLIBS)

bench-core: $(BUILD)/bench/bench_core
	$(BUILD)/bench/bench_core

fuzz: $(FDEPS_STAMP) $(DEPS_STAMP)
	./tests/fuzz/run.sh

bench-fleet: all $(TDEPS_STAMP)
	./bench/run.sh --fleet

PREFIX     ?= /usr/local
MODULES    ?= /usr/lib/nginx/modules

install: $(MODULE) $(TOOL)
	install -d $(DESTDIR)$(MODULES) $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(MODULE) $(DESTDIR)$(MODULES)/
	install -m 755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf $(BUILD)
