# BetterPrompt Hub — the two commands: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
# The first Python 3.11 or 3.12 on PATH (pgserver has wheels only up to 3.12).
PY ?= $(shell for p in python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3,11) <= sys.version_info[:2] <= (3,12))' 2>/dev/null \
	&& echo $$p && break; done)
STAMP := $(VENV)/.installed

.PHONY: run test test-repeat install lint drill drill-scale scale-servers bench bench-cluster bench-realtime bench-runs bench-auth bench-marketplace bench-leak-guard clean

run: $(STAMP)
	$(VENV)/bin/python -m hub.dev.server

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# The whole suite N times in a row (default 5): a flaky test shows up here, not in CI.
N ?= 5
test-repeat: $(STAMP)
	@for i in $$(seq 1 $(N)); do \
		echo "== make test-repeat: run $$i of $(N)"; \
		$(VENV)/bin/python -m pytest -q -p no:cacheprovider || { echo "== failed on run $$i of $(N)"; exit 1; }; \
	done; echo "== $(N) of $(N) runs passed"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(wildcard package.json)
	@test -n "$(PY)" || { echo "Python 3.11 or 3.12 is required (pgserver has no wheels for newer versions)"; exit 1; }
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[test]'
	@if [ -f package.json ]; then \
		if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
		else echo "npm not found: the centrifuge-js tests will be skipped"; fi; fi
	touch $(STAMP)

# ruff over every Python file of the repository (hub, realtime, workers, tests, bench, drill,
# top level); mypy over the shipped packages (settings in pyproject.toml's [tool.mypy]).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Fault drills against servers of their own (loopback, bounded); figures in docs/operations.md.
drill: $(STAMP)
	$(VENV)/bin/python -m drill

# The scaled-out stack drilled: 3 app processes behind nginx, the realtime engine on a Redis
# Cluster (3 masters + 3 replicas); kill/drain an app process, fail over a Redis master.
drill-scale: $(STAMP)
	@command -v nginx >/dev/null 2>&1 && redis-server --version 2>/dev/null | grep -q 'v=[7-9]' \
		|| $(MAKE) scale-servers
	$(VENV)/bin/python -m drill.scale

# Debian's nginx and redis-server 7 (for drill-scale, bench-cluster and the cluster tests).
scale-servers:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx redis-server

# Benchmarks (loopback only, bounded, stop by themselves); figures go to docs/performance.md.
bench: bench-realtime bench-runs bench-auth bench-marketplace bench-leak-guard

bench-realtime: $(STAMP)
	$(VENV)/bin/python bench/realtime_fanout.py
	$(VENV)/bin/python bench/realtime_fanout.py --transport http_stream --subs 1000 --rates 50 100

# The fan-out ladder through two hub processes on a local Redis Cluster (sharded pub/sub).
bench-cluster: $(STAMP)
	@redis-server --version 2>/dev/null | grep -q 'v=[7-9]' || $(MAKE) scale-servers
	$(VENV)/bin/python bench/realtime_fanout.py --cluster

bench-runs: $(STAMP)
	$(VENV)/bin/python bench/runs_bench.py --runs 100 500 --tokens 400 --arrival 50
	$(VENV)/bin/python bench/redis_roundtrips.py

bench-auth: $(STAMP)
	$(VENV)/bin/python bench/auth_bench.py

bench-marketplace: $(STAMP)
	$(VENV)/bin/python bench/seed_prompts.py --markdown

bench-leak-guard: $(STAMP)
	$(VENV)/bin/python bench/leak_guard_bench.py --rate 20
	$(VENV)/bin/python bench/leak_guard_bench.py --rate 40

clean:
	rm -rf $(VENV) .testdata .pytest_cache .ruff_cache .mypy_cache node_modules
