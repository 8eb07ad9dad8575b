# Stops what scripts/services.sh starts; sourced by the Makefile (`make infra-down`,
# `make infra-clean`). Each server is the process listening on the loopback port of its URL
# (DATABASE_URL, REDIS_URL, NATS_URL, KAFKA_BROKERS, the Makefile's defaults), stopped with the
# signal that makes it shut down cleanly, and waited for until the port is closed.

# host:port of a URL or a broker list: postgres://u:p@127.0.0.1:5432/db → 127.0.0.1:5432.
sb_host_port() {
  local rest="${1#*://}"
  rest="${rest%%,*}"
  rest="${rest##*@}"
  rest="${rest%%/*}"
  rest="${rest%%\?*}"
  case "$rest" in
    *:*) echo "$rest" ;;
    *) echo "$rest:$2" ;;
  esac
}

# The pid listening on a loopback host:port, or nothing. Refuses other hosts: a remote server
# is not ours to stop.
sb_listener_pid() { # name host:port
  local host="${2%:*}" port="${2##*:}"
  case "$host" in
    127.0.0.1 | localhost | ::1 | "[::1]") ;;
    *)
      echo "error: $1 is at $2, not on this machine's loopback; stop it where it runs" >&2
      return 1
      ;;
  esac
  ss -Htlnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

sb_stop() { # name host:port signal
  local pid
  pid="$(sb_listener_pid "$1" "$2")" || return 1
  if [ -z "$pid" ]; then
    echo "$1: nothing listens on $2"
    return 0
  fi
  echo "stopping $1 (pid $pid on $2, SIG$3)"
  kill -s "$3" "$pid"
  for _ in $(seq 1 150); do
    sb_port_open "${2%:*}" "${2##*:}" || return 0
    sleep 0.2
  done
  echo "error: $1 still listens on $2 after 30 s" >&2
  return 1
}

# SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
sb_stop_all() {
  local failed=0
  sb_stop PostgreSQL "$(sb_host_port "$DATABASE_URL" 5432)" INT || failed=1
  sb_stop Redis "$(sb_host_port "$REDIS_URL" 6379)" TERM || failed=1
  sb_stop NATS "$(sb_host_port "$NATS_URL" 4222)" TERM || failed=1
  sb_stop "the Kafka broker" "$(sb_host_port "$KAFKA_BROKERS" 9092)" TERM || failed=1
  return "$failed"
}

# The value after `flag` on a process's command line (`-sd /var/lib/nats-server`), or nothing.
sb_arg_of() { # pid flag...
  local pid="$1"
  shift
  [ -r "/proc/$pid/cmdline" ] || return 0
  local want="" arg
  while IFS= read -r -d '' arg; do
    if [ -n "$want" ]; then
      echo "$arg"
      return 0
    fi
    for flag in "$@"; do
      case "$arg" in
        "$flag") want=1 ;;
        "$flag="*) echo "${arg#*=}" && return 0 ;;
      esac
    done
  done <"/proc/$pid/cmdline"
}

# Drops the `switchboard` database (the one DATABASE_URL names), stops everything, then removes
# the brokers' data: NATS's JetStream store and any Redis snapshot. tansu keeps its log in memory
# (`memory://`, as services.sh starts it), so stopping it clears it.
sb_clean_all() {
  local db="${DATABASE_URL##*/}"
  db="${db%%\?*}"
  local admin_url="${DATABASE_URL%/*}/postgres"
  if ! psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; then
    echo "error: could not drop database $db: is PostgreSQL running at $admin_url?" >&2
    return 1
  fi
  echo "dropped database $db"

  local nats_pid jetstream="" redis_files=()
  nats_pid="$(sb_listener_pid NATS "$(sb_host_port "$NATS_URL" 4222)")" || return 1
  if [ -n "$nats_pid" ]; then
    local store
    store="$(sb_arg_of "$nats_pid" -sd --store_dir)"
    jetstream="${store:-${TMPDIR:-/tmp}/nats}/jetstream"
  fi
  if redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
    local dir rdb aof
    dir="$(redis-cli -u "$REDIS_URL" config get dir | sed -n 2p | tr -d '"')"
    rdb="$(redis-cli -u "$REDIS_URL" config get dbfilename | sed -n 2p | tr -d '"')"
    aof="$(redis-cli -u "$REDIS_URL" config get appenddirname | sed -n 2p | tr -d '"')"
    [ -n "$dir" ] && [ -n "$rdb" ] && redis_files+=("$dir/$rdb")
    [ -n "$dir" ] && [ -n "$aof" ] && redis_files+=("$dir/$aof")
  fi
  local kafka_pid engine
  kafka_pid="$(sb_listener_pid "the Kafka broker" "$(sb_host_port "$KAFKA_BROKERS" 9092)")" || return 1
  engine="$([ -n "$kafka_pid" ] && sb_arg_of "$kafka_pid" --storage-engine)"

  sb_stop_all || return 1

  if [ -n "$jetstream" ] && [ -d "$jetstream" ]; then
    rm -rf -- "$jetstream"
    echo "removed the JetStream store $jetstream"
  fi
  for file in "${redis_files[@]}"; do
    if [ -e "$file" ]; then
      rm -rf -- "$file"
      echo "removed the Redis data $file"
    fi
  done
  case "$engine" in
    "" | memory://*) ;;
    *) echo "note: the Kafka broker stored its log in $engine; remove it there" ;;
  esac
}
