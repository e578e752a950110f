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
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
datadir=/var/lib/mysql-cb # inside the chroot

say() { printf 'mysql.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

answers() { mariadb -h 127.0.0.1 -P "$port" -u root -N -e 'SELECT VERSION()' >/dev/null 2>&1; }

if [ "${1:-}" = stop ]; then
  pid=$(cat "$root$datadir/mysqld.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && say "stopped mysqld ($pid)"
  exit 0
fi

if answers; then
  say "MySQL already answers on 127.0.0.1:$port: $(mariadb -h 127.0.0.1 -P "$port" -u root -N -e 'SELECT VERSION()')"
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

say "starting mysqld on 127.0.0.1:$port"
mkdir -p "$root/run/mysqld"
# The default secure-file-priv directory does not exist in the chroot, and mysqld aborts.
chroot "$root" /usr/sbin/mysqld --user=root --datadir="$datadir" --port="$port" \
  --bind-address=127.0.0.1 --mysqlx=OFF --secure-file-priv= --socket=/run/mysqld/mysqld.sock \
  --pid-file="$datadir/mysqld.pid" --log-error="$datadir/error.log" \
  --max-connections=500 --local-infile=ON >/dev/null 2>&1 &
for _ in $(seq 1 120); do
  chroot "$root" mysql -u root -S /run/mysqld/mysqld.sock -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.5
done
# The initial root is socket-only; the tool and the tests use TCP.
chroot "$root" mysql -u root -S /run/mysqld/mysqld.sock -e "
  CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
  GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" ||
  fail "mysqld did not come up (see $root$datadir/error.log)"
answers || fail "MySQL does not answer on 127.0.0.1:$port (see $root$datadir/error.log)"
say "MySQL answers on 127.0.0.1:$port: $(mariadb -h 127.0.0.1 -P "$port" -u root -N -e 'SELECT VERSION()')"
