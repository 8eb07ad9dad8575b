# Switchboard: each target is a thin call to cargo or a script.
# Real-backend runs read DATABASE_URL, REDIS_URL, NATS_URL and KAFKA_BROKERS (set by `make infra`
# defaults below); the embedded demo needs none of them: `cargo run --example gateway`.

SHELL := /usr/bin/env bash
CARGO ?= cargo
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/switchboard
REDIS_URL ?= redis://127.0.0.1:6379
NATS_URL ?= nats://127.0.0.1:4222
KAFKA_BROKERS ?= 127.0.0.1:9092
export DATABASE_URL

# Every service gets every backend: the three run as separate processes.
BACKENDS = POSTGRES_URL=$(DATABASE_URL) REDIS_URL=$(REDIS_URL) NATS_URL=$(NATS_URL) KAFKA_BROKERS=$(KAFKA_BROKERS)
with_prefix = $(foreach kv,$(BACKENDS),$(1)_$(kv))

.PHONY: setup infra run-embedded run-gateway run-notifier run-processor migrate migrate-down \
	migrate-status migrate-create build test test-browser lint help
.PHONY: infra-down infra-clean infra-tools migrate-reset kafka-topics redis-cli psql tidy

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: infra migrate ## start or check the services, then apply the migrations

infra: ## start or check PostgreSQL, Redis, NATS and the Kafka broker (scripts/services.sh)
	@source scripts/services.sh && sb_ensure_all
	@psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'switchboard'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE switchboard"

run-embedded: ## the whole system in one process on the in-memory transports
	$(CARGO) run --example gateway

run-gateway: ## the gateway on the real backends (:8080)
	env $(call with_prefix,GATEWAY) $(CARGO) run --example gateway

run-notifier: ## the notifier on the real backends (:8081)
	env $(call with_prefix,NOTIFIER) $(CARGO) run --example notifier

run-processor: ## the processor on the real backends (:8082)
	env $(call with_prefix,PROCESSOR) $(CARGO) run --example processor

migrate: ## apply pending migrations to DATABASE_URL
	$(CARGO) run -q -p switchboard-postgres --bin sb-migrate -- up

migrate-down: ## revert the last migration
	$(CARGO) run -q -p switchboard-postgres --bin sb-migrate -- down

migrate-status: ## list the applied migrations
	$(CARGO) run -q -p switchboard-postgres --bin sb-migrate -- status

migrate-create: ## write the next numbered migration pair: make migrate-create NAME=add_users
	@test -n "$(NAME)" || { echo "usage: make migrate-create NAME=add_users" >&2; exit 2; }
	$(CARGO) run -q -p switchboard-postgres --bin sb-migrate -- create $(NAME)

build: ## compile every crate and the three services
	$(CARGO) build --workspace --all-targets

test: ## every test, with the services started or checked first
	scripts/test

test-browser: ## the page in headless Chromium through every panel (saves docs/screenshot.png)
	examples/browser/run

lint: ## formatting, clippy and docs as CI checks them
	scripts/lint

infra-down: ## stop the servers on the configured loopback ports (what `make infra` started)
	@source scripts/services.sh && source scripts/stop.sh && sb_stop_all

infra-clean: ## drop the `switchboard` database, stop the servers, delete the brokers' data
	@source scripts/services.sh && source scripts/stop.sh && sb_clean_all

infra-tools: ## psql, redis-cli, docker-compose, sb-kafka-topics; with Docker, RedisInsight and Kafka UI
	@source scripts/services.sh && sb_ensure_tools && sb_start_consoles
	@echo "make psql | make redis-cli | make kafka-topics open the clients on the configured URLs"

migrate-reset: ## revert every migration (their data goes too), then apply them all again
	$(CARGO) run -q -p switchboard-postgres --bin sb-migrate -- reset

kafka-topics: ## list the Kafka topics with their partitions (the admin client)
	KAFKA_BROKERS=$(KAFKA_BROKERS) $(CARGO) run -q -p switchboard-kafka --bin sb-kafka-topics

redis-cli: ## open redis-cli on REDIS_URL
	redis-cli -u $(REDIS_URL)

psql: ## open psql on DATABASE_URL
	psql $(DATABASE_URL)

tidy: ## bring Cargo.lock in line with the manifests (no upgrades), showing what changed
	$(CARGO) update --workspace
	@git diff --quiet -- Cargo.lock && echo "Cargo.lock was already in line with the manifests" \
		|| git diff --stat -- Cargo.lock
