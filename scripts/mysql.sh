#!/usr/bin/env bash
# A real MySQL for tests and benchmarks, on 127.0.0.1:${MYSQL_PORT:-3307}, root with an empty
# password. Debian stable ships only MariaDB; Debian's unstable suite has mysql-server-core
# (9.7 when this was written), which needs a newer libc than stable, so it runs in a chroot.
#
# Idempotent: an existing chroot, data directory and running server are reused. Every step
# says what it does on stderr; a step that cannot be done (no network to the mirror, say)
# fails with one line and a non-zero exit, so CI never runs a MySQL lane that silently skips.
#
#   scripts/mysql.sh          set up (first time: ~1 min and ~800 MB) and start
#   scripts/mysql.sh stop     stop the server (the chroot and data stay)
set -euo pipefail

root=${MYSQL_CHROOT:-/var/lib/concert-bench/mysql-sid}
port=${MYSQL_PORT:-3307}
# The Debian mirror this machine's apt already uses (deb822 .sources files, or one-line
# sources.list entries); DEBIAN_MIRROR overrides it. No mirror is written into this script.
apt_mirror() {
  local found
  found=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
    /^Types:/ { deb = ($0 ~ /(^|[[:space:]])deb([[:space:]]|$)/) }
    /^URIs:/ && deb { print $2; exit }')
  [ -n "$found" ] || found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }')
  printf '%s' "$found"
}
mirror=${DEBIAN_MIRROR:-$(apt_mirror)}
datadir=/var/lib/mysql-cb # inside the chroot

say() { printf 'mysql.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

# The version over TCP; a timeout because something that is not a MySQL server may hold the port.
version() { mariadb -h 127.0.0.1 -P "$port" -u root --connect-timeout=5 -N -e 'SELECT VERSION()' 2>/dev/null; }
# A MariaDB on the port is not the MySQL lane.
answers() { local v; v=$(version) && [ -n "$v" ] && [[ $v != *MariaDB* ]]; }
# Our mysqld, found by its command line (its pid file may be stale, and pids are reused).
ours() { { pgrep -f "^/usr/sbin/mysqld --user=root --datadir=$datadir --port=$port " || true; } | head -1; }

if [ "${1:-}" = stop ]; then
  pid=$(ours)
  [ -n "$pid" ] && kill "$pid" && say "stopped mysqld ($pid)"
  exit 0
fi

if answers; then
  say "MySQL already answers on 127.0.0.1:$port: $(version)"
  exit 0
fi

if [ ! -x "$root/usr/sbin/mysqld" ]; then
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
      fail "cannot install debootstrap from Debian's packages: no MySQL lane"
  fi
  if [ ! -x "$root/usr/bin/apt-get" ]; then
    [ -n "$mirror" ] || fail "no Debian mirror in /etc/apt/sources.list or sources.list.d: set DEBIAN_MIRROR=<mirror URL>"
    say "debootstrap sid into $root from $mirror"
    mkdir -p "$root"
    debootstrap --variant=minbase sid "$root" "$mirror" >/tmp/cb-debootstrap.log 2>&1 ||
      fail "debootstrap of Debian sid from $mirror failed (see /tmp/cb-debootstrap.log): no MySQL lane"
  fi
  say "installing mysql-server-core and mysql-client in the chroot"
  # The mirror's sid Release file may be past its Valid-Until date.
  chroot "$root" apt-get -o Acquire::Check-Valid-Until=false update -qq >/dev/null 2>&1 ||
    fail "apt-get update in the sid chroot failed: no MySQL lane"
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    mysql-server-core mysql-client >/tmp/cb-mysql-install.log 2>&1 ||
    fail "installing mysql-server-core in the sid chroot failed (see /tmp/cb-mysql-install.log): no MySQL lane"
fi

mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"

if [ ! -d "$root$datadir/mysql" ]; then
  say "initializing the data directory $datadir (in the chroot)"
  rm -rf "${root:?}$datadir"
  chroot "$root" mysqld --initialize-insecure --user=root --datadir="$datadir" >/tmp/cb-mysql-init.log 2>&1 ||
    fail "mysqld --initialize-insecure failed (see /tmp/cb-mysql-init.log)"
fi

socket_answers() { chroot "$root" mysql -u root -S /run/mysqld/mysqld.sock -e 'SELECT 1' >/dev/null 2>&1; }
# Why it did not come up, from its own log, so CI's output names the cause.
log_tail() { grep -E '\[(ERROR|Warning)\]' "$root$datadir/error.log" 2>/dev/null | tail -4 >&2 || true; }

case $(version) in
  *MariaDB*) fail "127.0.0.1:$port is a MariaDB, not MySQL: choose another MYSQL_PORT" ;;
esac
other=$({ pgrep -af "^/usr/sbin/mysqld --user=root --datadir=$datadir " || true; } | { grep -v -- "--port=$port " || true; } | head -1)
[ -z "$other" ] || fail "this chroot's mysqld already runs with another port (${other%% --bind*}): stop it with scripts/mysql.sh stop"
pid=$(ours)
if [ -z "$pid" ]; then
  # A mysqld that died uncleanly (or a machine restored from a snapshot) leaves its socket,
  # socket lock and pid file behind. The lock names a pid that may now be another process,
  # and then mysqld refuses to start ("Another process with pid N is using unix socket file").
  rm -f "$root/run/mysqld/mysqld.sock" "$root/run/mysqld/mysqld.sock.lock" "$root$datadir/mysqld.pid"
  say "starting mysqld on 127.0.0.1:$port"
  mkdir -p "$root/run/mysqld"
  [ -f "$root$datadir/error.log" ] && mv "$root$datadir/error.log" "$root$datadir/error.log.1"
  # The default secure-file-priv directory does not exist in the chroot, and mysqld aborts.
  chroot "$root" /usr/sbin/mysqld --user=root --datadir="$datadir" --port="$port" \
    --bind-address=127.0.0.1 --mysqlx=OFF --secure-file-priv= --socket=/run/mysqld/mysqld.sock \
    --pid-file="$datadir/mysqld.pid" --log-error="$datadir/error.log" \
    --max-connections=500 --local-infile=ON >/dev/null 2>&1 &
  pid=$!
else
  say "mysqld ($pid) is running but does not answer yet (crash recovery?): waiting for it"
fi
# Crash recovery after an unclean stop can take minutes on a busy 2-core machine.
for _ in $(seq 1 360); do
  socket_answers && break
  kill -0 "$pid" 2>/dev/null || { log_tail; fail "mysqld exited while starting (see $root$datadir/error.log)"; }
  sleep 0.5
done
socket_answers || { log_tail; fail "mysqld did not answer within 180 s (see $root$datadir/error.log)"; }
# The initial root is socket-only; the tool and the tests use TCP.
chroot "$root" mysql -u root -S /run/mysqld/mysqld.sock -e "
  CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
  GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" ||
  fail "cannot let root in over TCP (see $root$datadir/error.log)"
answers || fail "MySQL does not answer on 127.0.0.1:$port (see $root$datadir/error.log)"
say "MySQL answers on 127.0.0.1:$port: $(version)"
