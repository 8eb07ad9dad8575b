# Starts or checks the services the tests need; sourced by scripts/test and the Makefile.
# Each function starts its service only if it is installed, stopped and not overridden by an
# environment variable, then fails loudly if it still cannot be reached.

sb_port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

sb_wait_port() { # host port name
  for _ in $(seq 1 100); do
    sb_port_open "$1" "$2" && return 0
    sleep 0.2
  done
  echo "error: $3 is not reachable on $1:$2; start it (see docs/backends.md)" >&2
  return 1
}

sb_ensure_postgres() {
  export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  sb_wait_port 127.0.0.1 5432 PostgreSQL
}

sb_ensure_redis() {
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
  if ! sb_port_open 127.0.0.1 6379 && command -v redis-server >/dev/null; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  sb_wait_port 127.0.0.1 6379 Redis
}

sb_ensure_nats() {
  export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
  if ! sb_port_open 127.0.0.1 4222 && [ -x /usr/sbin/nats-server ]; then
    echo "starting NATS with JetStream"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  fi
  sb_wait_port 127.0.0.1 4222 NATS
}

# The Kafka-protocol broker: tansu, installed once into ~/.cargo/bin and started in memory mode.
sb_ensure_kafka() {
  if [ -n "${KAFKA_BROKERS:-}" ]; then
    return 0
  fi
  export KAFKA_BROKERS=127.0.0.1:9092
  if sb_port_open 127.0.0.1 9092; then
    return 0
  fi
  sb_ensure_tansu_installed
  local tansu="$SB_TANSU"
  local log="${CARGO_TARGET_DIR:-target}/tansu.log"
  mkdir -p "$(dirname "$log")"
  echo "starting tansu on 127.0.0.1:9092 (log: $log)"
  nohup "$tansu" broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
    --storage-engine memory://tansu/ >"$log" 2>&1 &
  sb_wait_port 127.0.0.1 9092 "the Kafka broker (tansu)"
}

# The fault suite (examples/tests/faults) starts brokers of its own: tansu must be installed
# even when KAFKA_BROKERS points elsewhere. Exports SB_TANSU, the binary it runs.
# Its build directory is its own, so an install in the background (.ci/run) does not lock the
# workspace's target directory.
sb_ensure_tansu_installed() {
  if ! command -v tansu >/dev/null && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
    echo "installing tansu, the Kafka-protocol broker (about 10-20 minutes, once)"
    cargo install tansu --locked --features dynostore --target-dir "$HOME/.cache/tansu-build"
  fi
  SB_TANSU="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
  export SB_TANSU
}

# Headless Chromium and node for the browser test, from Debian's packages when missing.
sb_ensure_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if ! command -v npm >/dev/null; then
    echo "error: node and npm are needed for the browser test (apt-get install -y nodejs npm)" >&2
    return 1
  fi
}

sb_ensure_all() {
  sb_ensure_postgres
  sb_ensure_redis
  sb_ensure_nats
  sb_ensure_kafka
}

# Installs a Debian package when its command is missing, then fails loudly if it still is.
sb_ensure_command() { # command package why
  if ! command -v "$1" >/dev/null; then
    echo "installing $2 ($3)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
  command -v "$1" >/dev/null || {
    echo "error: $1 is missing (apt-get install -y $2)" >&2
    return 1
  }
}

# Debian's docker-compose (v1), which validates compose files without a Docker engine.
sb_ensure_compose() { sb_ensure_command docker-compose docker-compose "to validate the compose files"; }

# wrk, the HTTP load tool of the gateway bench.
sb_ensure_wrk() { sb_ensure_command wrk wrk "the gateway bench's load tool"; }

# The clients the make targets open: psql, redis-cli, docker-compose and sb-kafka-topics.
sb_ensure_tools() {
  local missing=()
  command -v psql >/dev/null || missing+=(postgresql-client)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  sb_ensure_compose
  cargo build -q -p switchboard-kafka --bin sb-kafka-topics
}

# RedisInsight (:5540) and Kafka UI (:8090), compose.yml's `tools` profile, when a Docker engine
# answers; they use the host network, so they reach native servers too.
sb_start_consoles() {
  if ! docker info >/dev/null 2>&1; then
    echo "no Docker engine here: RedisInsight and Kafka UI (compose.yml, profile tools) need one"
    return 0
  fi
  local compose=(docker compose)
  docker compose version >/dev/null 2>&1 || compose=(docker-compose)
  "${compose[@]}" --profile tools up -d redisinsight kafka-ui
  echo "RedisInsight: http://127.0.0.1:5540  Kafka UI: http://127.0.0.1:8090"
}
