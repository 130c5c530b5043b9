# The two commands: `make run` sets everything up and serves the API; `make test` sets up and tests.
# Both work on a fresh Debian machine (as root, or with sudo) and are fast when re-run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5311
export PORT

.PHONY: run test contract system browser database demo lint clean cluster cluster-down test-cluster

# `make run`: the hosts it answers for (another Host header is a 400) and the URL it advertises
# and keeps in photos' media_url: this machine's names and the listen address, unless the
# environment sets them (listening on 0.0.0.0, name the public host in both).
LISTEN_HOST := $(or $(OPEN311_LISTEN_HOST),127.0.0.1)
comma := ,
OPEN311_TRUSTED_HOSTS ?= 127.0.0.1,localhost$(addprefix $(comma),$(filter-out 127.0.0.1 localhost,$(LISTEN_HOST)))
OPEN311_PUBLIC_URL ?= http://$(if $(filter 0.0.0.0 ::,$(LISTEN_HOST)),127.0.0.1,$(LISTEN_HOST)):$(PORT)/open311/v2
run: export OPEN311_TRUSTED_HOSTS := $(OPEN311_TRUSTED_HOSTS)
run: export OPEN311_PUBLIC_URL := $(OPEN311_PUBLIC_URL)

# nginx in front of gunicorn (open311 serve), and the worker (webhooks, e-mail, the scheduled jobs) beside; Ctrl-C
# or SIGTERM stops all three. Both run in the background so that the shell's trap runs at once:
# a shell waiting for a foreground command would put the signal off until that command ended.
run: database demo
	@$(BIN)/open311 demo-banner --port $(PORT)
	@$(BIN)/open311 worker & worker=$$!; \
	$(BIN)/open311 serve --port $(PORT) & server=$$!; \
	trap 'kill $$server $$worker 2>/dev/null; wait $$server $$worker 2>/dev/null' EXIT INT TERM; \
	wait $$server

test: system browser $(VENV)/.installed node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2

# schemathesis against our own /openapi.json, each staff role, every check, >= 10,000 calls.
contract: system $(VENV)/.installed
	$(BIN)/python bench/contract.py

system:
	@scripts/ensure-system

# Debian's Chromium and ChromeDriver, for the browser tests only (`make run` needs neither).
browser:
	@scripts/ensure-system --browser

# The pages' browser libraries (MapLibre, Swagger UI) and axe-core, exactly as the lockfile says.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed: setup.py pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

database: system $(VENV)/.installed node_modules/.installed
	$(BIN)/open311 db up
	$(BIN)/open311 db upgrade
	$(BIN)/open311 redis up

demo: database
	$(BIN)/open311 seed

# Several machines on this one (README: Running on several machines): two PostgreSQL+PostGIS
# nodes under Patroni with etcd, a pgbouncer each, Redis, an S3 store, two app nodes with a
# worker each, nginx in front; all under var/cluster/, serving http://127.0.0.1:15400.
# Patroni runs as the postgres system user, so it gets a virtualenv of Debian's Python under
# var/ (the project's may sit in a home directory closed to that user), pinned here.
PATRONI_VENV := var/cluster/patroni-venv
PATRONI_REQUIREMENTS := 'patroni[etcd3]==4.1.5' 'psycopg2-binary>=2.9,<3'

cluster: system $(VENV)/.installed node_modules/.installed
	@scripts/ensure-system --cluster
	@[ -f $(PATRONI_VENV)/.installed ] || { /usr/bin/python3 -m venv $(PATRONI_VENV) && \
	  $(PATRONI_VENV)/bin/python -m pip install -q $(PATRONI_REQUIREMENTS) && \
	  touch $(PATRONI_VENV)/.installed; }
	$(BIN)/open311 cluster up

cluster-down: $(VENV)/.installed
	$(BIN)/open311 cluster down

# The cluster's acceptance tests: they kill nodes, so one at a time and never in `make test`.
test-cluster: cluster
	OPEN311_CLUSTER_TESTS=1 $(BIN)/pytest -p no:randomly tests/cluster

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	-$(BIN)/open311 db down
	-$(BIN)/open311 redis down
	rm -rf $(VENV) var node_modules
