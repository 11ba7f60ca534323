# dpu-agent: `make demo` and `make test` work from a fresh clone on Debian 12.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Standard YANG modules: ../shared/yang when present, else the pinned download.
SHARED_YANG := $(wildcard $(abspath ../shared/yang))
YANG_CACHE ?= $(HOME)/.cache/dpu-agent/yang
YANG_DIR ?= $(if $(SHARED_YANG),$(SHARED_YANG),$(YANG_CACHE))
export DPU_AGENT_YANG_DIR := $(YANG_DIR)

# libssh-4: the agent's SSH server (agent/transport/libssh.py opens libssh.so.4; nothing is compiled)
# libnetconf2-dev, libssh-dev, libssl-dev: the C call-home manager the interop tests
# compile (its headers include libssh and OpenSSL ones when SSH and TLS are enabled)
# openssh-client: `ssh -s netconf` as a manager in the interop tests
SYSTEM_PACKAGES := gcc python3-dev python3-venv pkg-config libyang2-dev libyang2-tools iproute2 util-linux \
	libssh-4 libnetconf2-dev libssh-dev libssl-dev openssh-client

# The QEMU boards of the board tests (board/README.md), built into build/board/.
BOARD_PACKAGES := qemu-system-x86 qemu-system-arm busybox-static mmdebstrap \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
# `make test` builds them when it can install their packages (as root, as in
# CI); otherwise the board tests skip, saying why.
TEST_BOARD := $(if $(filter 0,$(shell id -u)),board)

# the baselines of `make bench`: Debian's netconfd behind a private OpenSSH sshd
BENCH_PACKAGES := netconfd openssh-server

.PHONY: all demo test stress bench sids fuzz deps yang board clean

all: test

deps:
	@tools/system-deps $(SYSTEM_PACKAGES)

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	@tools/system-deps $(SYSTEM_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

yang:
ifeq ($(SHARED_YANG),)
	$(PYTHON) tools/fetch-yang $(YANG_CACHE)
endif

demo: $(VENV)/.installed yang
	$(BIN)/dpu-agent demo

board: $(VENV)/.installed
	@tools/system-deps $(BOARD_PACKAGES)
	$(BIN)/python -m board build

test: $(VENV)/.installed yang $(TEST_BOARD)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the configuration store's crash-injection tests at full count (make test runs fewer)
stress: $(VENV)/.installed yang
	DPU_AGENT_CRASH_ITERATIONS=1000 $(BIN)/python -m pytest -q tests/test_store_crash.py $(PYTEST_ARGS)

# the performance table against baselines run here and now (bench/results.md);
# as root (netconfd's login user, a private sshd, network namespaces).
# BENCH_QUICK=1: short windows, for development
bench: $(VENV)/.installed yang
	@tools/system-deps $(BENCH_PACKAGES)
	$(BIN)/python -m bench $(BENCH_ARGS)

# allocate YANG SIDs for new or changed modules of agent/modset.py and SID_MODULES (see tools/sids)
sids: $(VENV)/.installed yang
	$(BIN)/pip install -q -c constraints.txt -e '.[test,dev]'
	$(BIN)/python tools/sids $(SID_MODULES)

clean:
	rm -rf $(VENV) .pytest_cache build/board build/fuzz

# coverage-guided fuzzing with atheris: FUZZ_RUNS inputs per target, 4 targets
# (make test replays the seeds and regressions and a short mutation run)
FUZZ_RUNS ?= 250000
fuzz: $(VENV)/.installed yang
	$(BIN)/pip install -q -c constraints.txt -e '.[test,fuzz]'
	@for t in framing xml session edit; do \
	  mkdir -p build/fuzz/$$t && cp -n fuzz/corpus/$$t/* build/fuzz/$$t/ && \
	  $(BIN)/python -m fuzz $$t -runs=$(FUZZ_RUNS) -rss_limit_mb=1024 -timeout=10 \
	    -artifact_prefix=build/fuzz/$$t- build/fuzz/$$t || exit 1; \
	done
