# The README's commands. `make help` lists them.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.DEFAULT_GOAL := help
.PHONY: help setup demo run test check new-service schemas bench bench-sustained bench-replay bench-analytics stack-up stack-down stack-status stack-logs

help: ## List the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: ## Install everything: PostgreSQL, the Kafka jars, poppler-utils, Chromium, uv and the Python workspace
	deploy/local/install
	@command -v uv >/dev/null || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --all-packages --frozen --compile-bytecode
	@# Machines that set PYTHONDONTWRITEBYTECODE would compile every import of every worker a
	@# test or the demo starts (about 1 s of CPU each): compile the workspace's sources once.
	$(UV) run --no-sync python -m compileall -q -j 0 libs services tests deploy bench

demo: setup stack-up ## Set up, start the stack and the services, place orders and show their statuses
	$(UV) run --no-sync python deploy/demo/demo.py

run: setup ## Start the stack and every service, supervised, until Ctrl-C (logs in .stack/run-logs)
	$(UV) run --no-sync oms run

test: setup ## Set up and run every test (starts the local stack unless KAFKA_BOOTSTRAP_SERVERS and OMS_PG_ADMIN_DSN are set); TEST_WORKERS=n runs n in parallel (default: one more than the cores)
	@# Part of every integration test waits on the broker (group joins, timers): one worker
	@# more than the cores keeps them busy; an idle worker steals work left to the others.
	$(UV) run --no-sync pytest -n $(or $(TEST_WORKERS),$(shell echo $$(( $$(nproc) + 1 )))) --dist worksteal

check: ## Lint, type-check and verify the import contracts
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy
	$(UV) run --no-sync lint-imports

new-service: ## Create services/$(NAME) in the shared layout from the template and wire it in (NAME=returns)
	@test -n "$(NAME)" || { echo "usage: make new-service NAME=<name>" >&2; exit 2; }
	$(UV) run --no-sync python deploy/new_service.py $(NAME)
	$(UV) sync --all-packages

API_SERVICES := order inventory orchestration shipping notification

schemas: ## Regenerate schemas/ (JSON Schema per event version, AsyncAPI, each HTTP API's OpenAPI)
	$(UV) run --no-sync python -c "from pathlib import Path; from oms_events.schemas import write_schemas; write_schemas(Path('schemas'))"
	mkdir -p schemas/openapi
	for service in $(API_SERVICES); do \
	  $(UV) run --no-sync python -m oms_$$service openapi > schemas/openapi/$$service.json.new && \
	  mv schemas/openapi/$$service.json.new schemas/openapi/$$service.json || exit 1; \
	done

# Defaults as variables: inside $(or ...) a comma separates arguments, so `100,200` there
# would run only 100.
RATES ?= 100,200
RESERVATION_RATES ?= 300,600
SUSTAINED_RATE ?= 200

bench: setup stack-up ## Measure the order pipeline and reservations open-loop (RATES, RESERVATION_RATES, DURATION)
	PYTHONPATH=. $(UV) run --no-sync python bench/order_pipeline.py --rates $(RATES) --duration $(or $(DURATION),30)
	PYTHONPATH=. $(UV) run --no-sync python bench/inventory_reservations.py --rates $(RESERVATION_RATES) --duration $(or $(DURATION),20)

bench-sustained: setup stack-up ## One rate for 5 minutes: kept up? lag and backlog over time (SUSTAINED_RATE, DURATION)
	PYTHONPATH=. $(UV) run --no-sync python bench/order_pipeline.py --sustained $(SUSTAINED_RATE) --duration $(or $(DURATION),300)

bench-replay: setup stack-up ## How fast a service reads a topic again after `oms replay` and `oms rebuild`, beside the raw broker and `oms copy` (EVENTS)
	PYTHONPATH=. $(UV) run --no-sync python bench/replay.py --events $(or $(EVENTS),100000)

bench-analytics: setup stack-up ## How fast the analytics worker counts every topic, what its changelog writes, and how fast `oms rebuild analytics` counts it again (ORDERS)
	PYTHONPATH=. $(UV) run --no-sync python bench/analytics.py --orders $(or $(ORDERS),3000)

stack-up: ## Start Kafka and PostgreSQL locally (no Docker) and create databases and topics
	deploy/local/stack up

stack-down: ## Stop the local stack
	deploy/local/stack down

stack-status: ## Show what the local stack runs
	deploy/local/stack status

stack-logs: ## Tail the local stack's logs
	deploy/local/stack logs
