# herd: build, test, fuzz, run.  `make help` lists the targets.
#
# PYTHON picks the interpreter to embed (default: Debian's /usr/bin/python3):
#   make PYTHON=/usr/bin/python3.11-dbg
#   make PYTHON=$(pyenv root)/versions/3.12.1/bin/python3.12
# Objects go to build/<tag>/ so several interpreters and the sanitizer build
# live side by side; ./herd is always the plain build for the default PYTHON.

comma    := ,
PYTHON   ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
PYCONFIG ?= $(shell test -x $(PYTHON)-config && echo $(PYTHON)-config || echo $(dir $(PYTHON))python3-config)
PYLIBDIR := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))' 2>/dev/null)
PYTAG    := $(shell $(PYTHON) -c 'import sys; print("py%d%d%s" % (sys.version_info[0], sys.version_info[1], "d" if hasattr(sys, "gettotalrefcount") else ""))' 2>/dev/null)

CC       ?= cc
SANITIZE ?= 0
OPT      ?= -O2

WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   += -std=gnu11 $(OPT) -g $(WARN) -pthread -D_GNU_SOURCE -Isrc
PYCFLAGS := $(shell $(PYCONFIG) --includes) -DHD_PYTHON_EXE='"$(PYTHON)"'
PYLDLIBS := $(shell $(PYCONFIG) --embed --ldflags) $(if $(PYLIBDIR),-Wl$(comma)-rpath$(comma)$(PYLIBDIR))
LDLIBS   += -pthread

ifeq ($(SANITIZE),1)
  CC      := clang
  CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1
  LDFLAGS += -fsanitize=address,undefined
  BUILD   := build/$(PYTAG)-asan
else
  BUILD   := build/$(PYTAG)
endif

SRCS     := src/main.c $(wildcard src/core/*.c src/config/*.c src/proto/*.c src/net/*.c \
                                  src/process/*.c src/server/*.c src/py/*.c)
OBJS     := $(SRCS:%.c=$(BUILD)/%.o)
BIN      := $(BUILD)/herd

.PHONY: all herd help run test test-unit test-integration test-asan test-fuzz \
        fuzz deps deps-test clean bench format format-check

all: herd

help:
	@echo "make            build ./herd (PYTHON=... to embed another interpreter)"
	@echo "make run        build and serve examples/hello.py on 127.0.0.1:8000"
	@echo "make test       the whole suite: unit, integration, sanitizer build, short fuzz"
	@echo "make fuzz       long fuzz run of every parser (FUZZ_SECONDS=600)"
	@echo "make bench      benchmarks against peer servers (bench/README.md)"

herd: $(BIN)
	@if [ "$(SANITIZE)" = 0 ] && [ "$(PYTHON)" = "$(DEFAULT_PYTHON)" ]; then ln -sf $(BIN) herd; fi

DEFAULT_PYTHON := $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(PYLDLIBS) $(LDLIBS)

$(BUILD)/src/py/%.o: src/py/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PYCFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# ---- dependencies (Debian packages; installed when run as root) ----------
DEPS_BUILD := gcc make python3-dev
DEPS_TEST  := $(DEPS_BUILD) clang libclang-rt-14-dev python3-pytest python3-flask \
              python3-django python3.11-dbg curl nginx

deps:
	@scripts/deps.sh $(DEPS_BUILD)

deps-test:
	@scripts/deps.sh $(DEPS_TEST)

# ---- run -----------------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory herd
	./herd --http-socket 127.0.0.1:8000 --wsgi-file examples/hello.py --master \
	       --processes 2 --threads 2

# ---- tests ---------------------------------------------------------------
PYTEST      := /usr/bin/python3 -m pytest
PYTEST_ARGS ?= -q
# The sanitizer build runs the same integration suite. Leak checking is left
# to the unit tests and fuzzers: the embedded interpreter keeps its memory
# until exit by design.
ASAN_ENV    := ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1

test-integration: herd
	HERD_BIN=$(abspath $(BIN)) $(if $(filter 1,$(SANITIZE)),$(ASAN_ENV)) \
	  $(PYTEST) $(PYTEST_ARGS) tests/integration

# Fork safety on every interpreter this machine has (issue: fork safety).
test-fork:
	@tests/forksafety/run-all.sh

test: deps-test
	@$(MAKE) --no-print-directory herd
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-integration
	@$(MAKE) --no-print-directory test-fork
	@$(MAKE) --no-print-directory SANITIZE=1 test-unit
	@$(MAKE) --no-print-directory SANITIZE=1 test-integration \
	  PYTEST_ARGS="-q --ignore=tests/integration/test_fork_safety.py"
	@$(MAKE) --no-print-directory test-fuzz FUZZ_SECONDS=$(or $(FUZZ_SECONDS),30)

# ---- benchmarks (bench/README.md); long: never part of make test -----------
bench: herd
	bench/run $(BENCH_ARGS)

include tests/unit/unit.mk
include fuzz/fuzz.mk

clean:
	rm -rf build herd
