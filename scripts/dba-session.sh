#!/usr/bin/env bash
# A DBA's session on a schema concert-bench has never seen (the README's "Your database, your
# queries"): the lending library of fixtures/library.sql (1,000,000 loans) in a database of its
# own, the application's statements (fixtures/library-app.sql) run once into a slow log, then
# `concert-bench explain --slow-log` on it. The database and the log are removed afterwards,
# and the server's slow-log settings put back.
#
#   scripts/dba-session.sh [PORT]      3306: MariaDB here; 3307: scripts/mysql.sh's MySQL
#   TRIALS=invisible scripts/dba-session.sh 3307   the trials as INVISIBLE indexes (MySQL 8+)
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-3306}
db=library_demo
sql() { mariadb -h 127.0.0.1 -P "$port" -u root "$@"; }
# MySQL runs in a chroot (scripts/mysql.sh): its files are under the chroot's root.
chroot=${MYSQL_CHROOT:-/var/lib/concert-bench/mysql-sid}
log=/tmp/cb-dba-session-$$.log

was_on=$(sql -N -e 'SELECT @@GLOBAL.slow_query_log')
was_file=$(sql -N -e 'SELECT @@GLOBAL.slow_query_log_file')
cleanup() {
  sql -e "SET GLOBAL slow_query_log = $was_on; SET GLOBAL slow_query_log_file = '$was_file'; DROP DATABASE IF EXISTS $db" || true
  rm -f "$log" "$chroot$log"
}
trap cleanup EXIT

cargo build --release --locked -q
sql -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
started=$(date +%s)
sql "$db" < fixtures/library.sql
echo "loaded the library in $(( $(date +%s) - started )) s: $(sql -N "$db" -e 'SELECT COUNT(*) FROM loan') loans" >&2

sql -e "SET GLOBAL slow_query_log_file = '$log'; SET GLOBAL slow_query_log = 1"
{ echo 'SET SESSION long_query_time = 0;'; grep -v '^--' fixtures/library-app.sql; } | sql "$db" >/dev/null
sql -e "SET GLOBAL slow_query_log = $was_on"
[ -s "$log" ] || log_file="$chroot$log"
log_file=${log_file:-$log}

trials=${TRIALS:-copy}
echo "\$ concert-bench --database-url mysql://root@127.0.0.1:$port/$db explain --slow-log slow.log --variant none --trials $trials"
started=$(date +%s.%N)
./target/release/concert-bench --database-url "mysql://root@127.0.0.1:$port/$db" -q \
  explain --slow-log "$log_file" --variant none --trials "$trials"
echo "explain took $(echo "$(date +%s.%N) - $started" | bc -l | cut -c1-5) s" >&2
