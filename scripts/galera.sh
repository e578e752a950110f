#!/usr/bin/env bash
# A local MariaDB Galera cluster for tests and benchmarks: three mariadbd nodes on 127.0.0.1,
# each with its own data directory, SQL port (${GALERA_PORT:-4306} to +2) and group port
# (${GALERA_GROUP_PORT:-4567} + 10 per node), the first bootstrapped with --wsrep-new-cluster.
# Every node is multi-primary, as Galera is: the tool reaches each as a plain server
# (mysql://root@127.0.0.1:4306/db, :4307, :4308).
#
#   scripts/galera.sh          start (idempotent: a cluster whose nodes all answer Synced is reused)
#   scripts/galera.sh stop     stop all three and remove their state
#   scripts/galera.sh status   each node's wsrep_local_state_comment and cluster size
#   scripts/galera.sh kill N   SIGKILL node N (0-2), as a crash would (for fault runs)
#   scripts/galera.sh rejoin N start node N again on its own data; it rejoins and catches up
#
# Each step says in one line why it cannot go on: no galera library, a port taken by someone
# else, a node that did not reach Synced.
set -euo pipefail

base=${GALERA_PORT:-4306}
group_base=${GALERA_GROUP_PORT:-4567}
dir=${GALERA_DIR:-/var/lib/concert-bench/galera}
provider=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
nodes="0 1 2"
# Not root: run as root, the state transfer's rsync daemon drops to `nobody`, which may not
# write the joiner's files.
run_as=${GALERA_USER:-mysql}

say() { printf 'galera.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
port_of() { echo $((base + $1)); }
group_port_of() { echo $((group_base + 10 * $1)); }
sql() { mariadb -h 127.0.0.1 -P "$(port_of "$1")" -u root -N -B "${@:2}"; }
answers() { sql "$1" -e 'SELECT 1' >/dev/null 2>&1; }
state() { sql "$1" -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'" 2>/dev/null || true; }
size() { sql "$1" -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE'" 2>/dev/null || true; }
all_synced() {
  for n in $nodes; do
    [ "$(state "$n")" = Synced ] && [ "$(size "$n")" = 3 ] || return 1
  done
}

cluster_address() {
  local peers=()
  for n in $nodes; do peers+=("127.0.0.1:$(group_port_of "$n")"); done
  local IFS=,
  echo "gcomm://${peers[*]}"
}

start_node() { # start_node N [--wsrep-new-cluster]
  local n=$1 port group
  port=$(port_of "$n"); group=$(group_port_of "$n")
  local data="$dir/node$n" tmp="$dir/node$n.tmp"
  mkdir -p "$data" "$tmp"
  chown "$run_as" "$dir" "$data" "$tmp"
  # Its bootstrap server and the node itself get a tmpdir of their own: a starting mariadbd
  # deletes every `#sql*` file its user owns in its tmpdir, and in the shared /tmp those are the
  # machine's server's live temporary tables.
  # Only the first node gets a fresh data directory; the others receive its state (SST).
  if [ "${2:-}" = --wsrep-new-cluster ] && [ ! -d "$data/mysql" ]; then
    TMPDIR="$tmp" mariadb-install-db --no-defaults --datadir="$data" --tmpdir="$tmp" --user="$run_as" --auth-root-authentication-method=normal \
      >"$dir/node$n-install.log" 2>&1 || fail "node $n: mariadb-install-db failed (see $dir/node$n-install.log)"
  fi
  # --no-defaults: nothing of the machine's own MariaDB (port 3306, its data) is read.
  mariadbd --no-defaults --datadir="$data" --tmpdir="$tmp" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/node$n.sock" --pid-file="$dir/node$n.pid" --log-error="$dir/node$n.err" \
    --user="$run_as" --skip-name-resolve \
    --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
    --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 \
    --wsrep-on=ON --wsrep-provider="$provider" --wsrep-cluster-name=concert-bench \
    --wsrep-cluster-address="$(cluster_address)" --wsrep-node-address="127.0.0.1:$group" \
    --wsrep-node-name="node$n" --wsrep-sst-method=rsync \
    --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$group;ist.recv_addr=127.0.0.1:$((group + 1));gcache.size=64M" \
    --wsrep-sst-receive-address="127.0.0.1:$((group + 2))" \
    "${@:2}" >/dev/null 2>&1 &
}

wait_synced() { # wait_synced N: up to 90 s for the node to answer Synced
  local n=$1
  for _ in $(seq 1 180); do
    [ "$(state "$n")" = Synced ] && return 0
    sleep 0.5
  done
  fail "node $n (port $(port_of "$n")) did not reach Synced in 90 s (state: '$(state "$n")'; see $dir/node$n.err)"
}

stop_all() {
  for n in $nodes; do
    [ -f "$dir/node$n.pid" ] && kill "$(cat "$dir/node$n.pid")" 2>/dev/null || true
  done
  for _ in $(seq 1 60); do
    local alive=0
    for n in $nodes; do [ -f "$dir/node$n.pid" ] && kill -0 "$(cat "$dir/node$n.pid")" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.5
  done
  # A node left in a non-primary component may not finish shutting down: it is killed.
  for n in $nodes; do
    [ -f "$dir/node$n.pid" ] && kill -9 "$(cat "$dir/node$n.pid")" 2>/dev/null || true
  done
  rm -rf "$dir"
}

case ${1:-start} in
  stop)
    stop_all
    say "stopped"
    ;;
  kill)
    n=${2:?usage: scripts/galera.sh kill N}
    [ -f "$dir/node$n.pid" ] && kill -9 "$(cat "$dir/node$n.pid")" 2>/dev/null ||
      fail "node $n is not running"
    say "node $n (port $(port_of "$n")) killed"
    ;;
  rejoin)
    n=${2:?usage: scripts/galera.sh rejoin N}
    answers "$n" && fail "node $n (port $(port_of "$n")) is running: nothing to rejoin"
    export PATH="$PATH:/usr/sbin"
    # A killed node left its pid file and, in its state file, safe_to_bootstrap: 0; it joins
    # the others through the cluster address and receives what it missed (IST or SST).
    rm -f "$dir/node$n.pid"
    start_node "$n"
    wait_synced "$n"
    say "node $n rejoined: Synced on 127.0.0.1:$(port_of "$n")"
    ;;
  status)
    for n in $nodes; do
      echo "node$n 127.0.0.1:$(port_of "$n") state=$(state "$n") cluster_size=$(size "$n")"
    done
    ;;
  start)
    if all_synced; then
      say "reusing the cluster on ports $(port_of 0)-$(port_of 2): every node Synced"
      exit 0
    fi
    [ -f "$provider" ] || fail "no Galera library at $provider: apt install galera-4"
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || fail "no mariadbd: apt install mariadb-server"
    export PATH="$PATH:/usr/sbin"
    command -v rsync >/dev/null || fail "no rsync (Galera's state transfer here): apt install rsync"
    for n in $nodes; do
      if answers "$n" || (exec 3<>"/dev/tcp/127.0.0.1/$(port_of "$n")") 2>/dev/null; then
        fail "port $(port_of "$n") is taken by something that is not a Synced node of this cluster: stop it, or set GALERA_PORT"
      fi
    done
    stop_all
    mkdir -p "$dir"
    # Node 0 starts a new cluster; the others join it and get its state.
    start_node 0 --wsrep-new-cluster
    wait_synced 0
    sql 0 -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION" 2>/dev/null || true
    for n in 1 2; do
      start_node "$n"
      wait_synced "$n"
    done
    all_synced || fail "the nodes are Synced but the cluster size is not 3: $(for n in $nodes; do printf '%s ' "$(size "$n")"; done)"
    say "three Galera nodes Synced on 127.0.0.1:$(port_of 0)-$(port_of 2)"
    ;;
  *)
    fail "usage: scripts/galera.sh [start|stop|status|kill N|rejoin N]"
    ;;
esac
