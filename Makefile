# Developer entry points. `make run` serves the demo; `make test` runs the suite (PostgreSQL + Redis).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
# make bench: a PostgreSQL server and base name (the run makes <name>_portal, <name>_stock, <name>_scale
# anew) and a Redis database for the production-shaped portal's cache.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14
# Any database the server has: the connection-check benchmark only connects.
BENCH_CHECK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: install run test test-fast bench loadtest lint format

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## run: the demo portal and the local HaloPSA stand-in on SQLite, tasks inline, mail to the console
run: install
	$(PY) -m demo

## test: the whole suite on PostgreSQL with a real Redis broker (what CI runs)
test: install
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest $(PYTEST_ARGS)

## test-fast: the suite on SQLite, skipping browser, broker and real-server tests
test-fast: install
	DATABASE_URL=sqlite:///:memory: $(PY) -m pytest -m "not browser and not broker and not server" $(PYTEST_ARGS)

## bench: returning SSO logins side by side (portal on PostgreSQL+Redis and SQLite, stock
## mozilla-django-oidc, a bare view) under gunicorn, the 10,000-portal / 10,000-invoice pages, what a
## hostile provider costs (bench/outbound_limits.py), a HaloPSA sync of 10k invoices (bench/halo_sync.py),
## and card payments per second through the whole path with the pay page's p95 (bench/bench_payments.py)
bench: install
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/run.py
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/scale.py
	$(PY) bench/outbound_limits.py
	DATABASE_URL=$(BENCH_CHECK_DATABASE_URL) $(PY) bench/health_check.py
	$(PY) bench/halo_sync.py
	DATABASE_URL=$(TEST_DATABASE_URL) BENCH_BROKER_URL=$(BENCH_REDIS_URL) $(PY) -m pytest bench/bench_payments.py -q -s -p no:cacheprovider -o python_files="bench_*.py"

## loadtest: two replicas, PostgreSQL, Redis, a worker and the stand-in on loopback under simulated people,
## one fault at a time (not in CI's default run; a few minutes). LOADTEST_ARGS="--people 10 --phase-seconds 30"
LOADTEST_ARGS ?=
loadtest: install
	$(PY) -m loadtest.run $(LOADTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
