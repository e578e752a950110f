#!/usr/bin/env bash
# A local MySQL 9.7 Group Replication group for tests and benchmarks: three mysqld members of
# scripts/mysql.sh's chroot on 127.0.0.1 (SQL ports ${GR_PORT:-5306} to +2, group ports
# ${GR_GROUP_PORT:-33061} to +2), single-primary (the first member) unless MULTI_PRIMARY=1.
# Each member has its own data directory in the chroot, named by its port (/var/lib/mysql-gr5306..),
# so a second group on other ports (the tests' private ones) never touches this one's.
#
#   scripts/group-replication.sh          start (idempotent: a group of three ONLINE is reused)
#   scripts/group-replication.sh stop     stop the three and remove their data
#   scripts/group-replication.sh status   performance_schema.replication_group_members
#   scripts/group-replication.sh kill M   SIGKILL member M (0-2), as a crash would
#   scripts/group-replication.sh rejoin M start member M again on its data and rejoin the group
#
# Needs scripts/mysql.sh to have built the chroot; says in one line why it cannot go on.
set -euo pipefail
cd "$(dirname "$0")/.."

root=${MYSQL_CHROOT:-/var/lib/concert-bench/mysql-sid}
base=${GR_PORT:-5306}
group_base=${GR_GROUP_PORT:-33061}
members="0 1 2"
# A group name of its own per port: the same group across restarts, another for another group.
group_name=aaaaaaaa-bbbb-cccc-dddd-0000000$(printf %05d "$base")
multi=${MULTI_PRIMARY:-0}

say() { printf 'group-replication.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
port_of() { echo $((base + $1)); }
datadir_of() { echo "/var/lib/mysql-gr$(port_of "$1")"; }
sql() { mariadb -h 127.0.0.1 -P "$(port_of "$1")" -u root -N -B "${@:2}"; }
answers() { sql "$1" -e 'SELECT 1' >/dev/null 2>&1; }
online() { # ONLINE members as the first member that answers sees them
  local m
  for m in $members; do
    sql "$m" -e "SELECT COUNT(*) FROM performance_schema.replication_group_members WHERE MEMBER_STATE = 'ONLINE'" 2>/dev/null && return 0
  done
  echo 0
}
ours() { { pgrep -f "^/usr/sbin/mysqld --user=root --datadir=$(datadir_of "$1") " || true; } | head -1; }

seeds() {
  local list=()
  for m in $members; do list+=("127.0.0.1:$((group_base + m))"); done
  local IFS=,
  echo "${list[*]}"
}

start_member() {
  local m=$1 datadir port
  datadir=$(datadir_of "$m"); port=$(port_of "$m")
  # A tmpdir of its own, also for --initialize: a starting mysqld deletes the `#sql*` files in
  # its tmpdir, and the chroot's /tmp is shared with the MySQL lane's server (scripts/mysql.sh).
  mkdir -p "$root$datadir.tmp"
  if [ ! -d "$root$datadir/mysql" ]; then
    chroot "$root" mysqld --initialize-insecure --user=root --datadir="$datadir" --tmpdir="$datadir.tmp" \
      >"/tmp/cb-gr$(port_of "$m")-init.log" 2>&1 || fail "member $m: mysqld --initialize-insecure failed (see /tmp/cb-gr$(port_of "$m")-init.log)"
  fi
  rm -f "$root/run/mysqld/gr$port.sock" "$root/run/mysqld/gr$port.sock.lock"
  mkdir -p "$root/run/mysqld"
  local mode=()
  if [ "$multi" = 1 ]; then
    mode=(--loose-group-replication-single-primary-mode=OFF --loose-group-replication-enforce-update-everywhere-checks=ON)
  fi
  chroot "$root" /usr/sbin/mysqld --user=root --datadir="$datadir" --tmpdir="$datadir.tmp" --port="$port" \
    --bind-address=127.0.0.1 --mysqlx=OFF --secure-file-priv= --socket="/run/mysqld/gr$port.sock" \
    --pid-file="$datadir/mysqld.pid" --log-error="$datadir/error.log" \
    --report-host=127.0.0.1 --server-id=$((100 + m)) --gtid-mode=ON --enforce-gtid-consistency=ON \
    --innodb-buffer-pool-size=128M --performance-schema=ON \
    --plugin-load-add=group_replication.so \
    --loose-group-replication-group-name="$group_name" \
    --loose-group-replication-start-on-boot=OFF \
    --loose-group-replication-local-address="127.0.0.1:$((group_base + m))" \
    --loose-group-replication-group-seeds="$(seeds)" \
    --loose-group-replication-ip-allowlist=127.0.0.1/8 \
    --loose-group-replication-recovery-get-public-key=ON \
    "${mode[@]}" >/dev/null 2>&1 &
  for _ in $(seq 1 120); do answers "$m" && return 0; sleep 0.5; done
  fail "member $m (port $port) did not answer in 60 s (see $root$datadir/error.log)"
}

stop_all() {
  for m in $members; do
    local pid; pid=$(ours "$m")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 60); do
    local alive=0
    for m in $members; do [ -n "$(ours "$m")" ] && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.5
  done
  # A member left in a minority may wait forever to leave its group: it is killed.
  for m in $members; do
    local pid; pid=$(ours "$m")
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  for m in $members; do rm -rf "$root$(datadir_of "$m")" "$root$(datadir_of "$m").tmp"; done
}

case ${1:-start} in
  stop)
    stop_all
    say "stopped"
    ;;
  kill)
    m=${2:?usage: scripts/group-replication.sh kill M}
    pid=$(ours "$m")
    [ -n "$pid" ] || fail "member $m is not running"
    kill -9 "$pid"
    say "member $m (port $(port_of "$m")) killed"
    ;;
  rejoin)
    m=${2:?usage: scripts/group-replication.sh rejoin M}
    [ -z "$(ours "$m")" ] || fail "member $m (port $(port_of "$m")) is running: nothing to rejoin"
    start_member "$m"
    # The group must have expelled the killed member before it may join again (a few seconds
    # after the kill); its recovery channel's settings were kept on its data.
    for _ in $(seq 1 60); do
      sql "$m" -e "START GROUP_REPLICATION;" 2>/dev/null && break
      sleep 1
    done
    for _ in $(seq 1 120); do
      [ "$(sql "$m" -e "SELECT MEMBER_STATE FROM performance_schema.replication_group_members WHERE MEMBER_ID = @@server_uuid" 2>/dev/null)" = ONLINE ] && break
      sleep 0.5
    done
    [ "$(online)" = 3 ] || fail "member $m did not come back ONLINE in 60 s (see $root$(datadir_of "$m")/error.log)"
    say "member $m rejoined: ONLINE on 127.0.0.1:$(port_of "$m")"
    ;;
  status)
    sql 0 -e "SELECT MEMBER_PORT, MEMBER_STATE, MEMBER_ROLE FROM performance_schema.replication_group_members ORDER BY MEMBER_PORT" 2>/dev/null ||
      fail "member 0 (port $(port_of 0)) does not answer"
    ;;
  start)
    if [ "$(online)" = 3 ]; then
      say "reusing the group on ports $(port_of 0)-$(port_of 2): three members ONLINE"
      exit 0
    fi
    [ -x "$root/usr/sbin/mysqld" ] || fail "no MySQL chroot at $root: run scripts/mysql.sh first"
    [ -f "$root/usr/lib/mysql/plugin/group_replication.so" ] || fail "the chroot's MySQL has no group_replication.so"
    stop_all
    for m in $members; do
      start_member "$m"
      # The recovery channel copies the donor's binary log as root over the local network;
      # a fresh member has nothing the others lack but the group's own transactions.
      sql "$m" -e "SET SQL_LOG_BIN=0;
        CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
        GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
        SET SQL_LOG_BIN=1;
        CHANGE REPLICATION SOURCE TO SOURCE_USER='root', SOURCE_PASSWORD=''
          FOR CHANNEL 'group_replication_recovery';" ||
        fail "member $m: setting up the recovery channel failed"
      if [ "$m" = 0 ]; then
        sql 0 -e "SET GLOBAL group_replication_bootstrap_group=ON; START GROUP_REPLICATION; SET GLOBAL group_replication_bootstrap_group=OFF;" ||
          fail "member 0: bootstrapping the group failed (see $root$(datadir_of 0)/error.log)"
      else
        sql "$m" -e "START GROUP_REPLICATION;" ||
          fail "member $m: joining the group failed (see $root$(datadir_of "$m")/error.log)"
      fi
    done
    for _ in $(seq 1 120); do
      [ "$(online)" = 3 ] && break
      sleep 0.5
    done
    [ "$(online)" = 3 ] || fail "the group has $(online) of 3 members ONLINE after 60 s (see $root$(datadir_of 0)/error.log and the others)"
    say "three members ONLINE on 127.0.0.1:$(port_of 0)-$(port_of 2) ($([ "$multi" = 1 ] && echo multi-primary || echo "single-primary: $(port_of 0) writes"))"
    ;;
  *)
    fail "usage: scripts/group-replication.sh [start|stop|status|kill M|rejoin M]"
    ;;
esac
