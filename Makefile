# The two commands of the README: `make run` and `make test`. Both set up what they need.
# `make test-fast` is for the edit-test loop: lint, type check and the tests that start no
# cluster and no Docker (those marked slow or docker), with 100 simulation seeds instead of
# 500 (SIM_SEEDS=500 make test-fast for all of them).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := redis-server redis-tools iproute2 iptables debootstrap tcl
# Two workers, the tests that start processes grouped (tests/conftest.py); PYTEST_ARGS=
# runs the suite in one process.
PYTEST_ARGS ?= -n 2 --dist loadgroup
SIM_SEEDS ?= 100

.PHONY: run test test-fast lint setup debs bench clean proto

setup: debs $(STAMP)

# Debian packages: redis-server (differential tests and the benchmark baseline), redis-tools
# (redis-cli, redis-benchmark), iproute2/iptables (partitions), debootstrap (offline base image),
# tcl (Redis's own test units, slotraft/redis_test_units.py).
debs:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  $$SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

run: setup
	$(BIN)/slotraft up

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup lint
	SIM_SEEDS=$(SIM_SEEDS) $(BIN)/python -m pytest -m "not slow and not docker" $(PYTEST_ARGS)

bench: setup
	$(BIN)/slotraft bench all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis

# Regenerate the gRPC/protobuf stubs (committed) from proto/slotraft.proto.
proto: setup
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. proto/slotraft.proto proto/xshard.proto
