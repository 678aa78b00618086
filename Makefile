# Every target does its own set-up, so a fresh machine needs only `make run` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
# Debian's interpreter: nvidia-pytriton's Triton links against its libpython (see docs).
BASE_PY := /usr/bin/python3
APT_PACKAGES := prometheus python3-venv chromium kubectl
STAMP := $(VENV)/.installed

.PHONY: setup apt venv test lint typecheck contracts unit run bench proto clean

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	$(MAKE) apt
	test -x $(PY) || $(BASE_PY) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(VENV)/bin/ruff check scaler policies tests bench
	$(VENV)/bin/ruff format --check scaler policies tests bench

typecheck: setup
	$(VENV)/bin/mypy scaler policies

contracts: setup
	$(VENV)/bin/lint-imports

unit: setup
	$(VENV)/bin/pytest -q

test: lint typecheck contracts unit

run: setup
	$(VENV)/bin/scaler simulate --trace simulations/traces/ligo.csv --scaled-object simulations/scenarios/readme-scaledobject.yaml --policy presets --report simulations/report.html --json simulations/summary.json

bench: setup
	$(PY) bench/grpc_latency.py

proto: setup
	$(PY) -m scaler.protogen

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
