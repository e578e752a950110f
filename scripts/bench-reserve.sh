#!/usr/bin/env bash
# Spread-load throughput against two raw-SQL anchors, same data, same concurrency:
#   tool       = `concert-bench reserve --load --seats spread --strategy conditional` (hold + pay);
#   procedure  = the same work as one stored procedure, called by mariadb-slap with the same
#                number of clients: no client round trips at all (the server's ceiling);
#   statements = the tool's 11 statements per reservation, literal users and seats, sent by
#                CLIENTS `mariadb` processes at once (the same round trips from a C client;
#                where the tool stops after a lost hold they run as no-ops).
# Every side is timed with its connections already open: the tool opens them before timing,
# mariadb-slap reports its own time, and the statement clients wait at a start line.
# Each starts from a fresh `seed --reset`; completed = reservations confirmed by the run.
# The scratch database (DB) is dropped afterwards (trap), procedure and all.
# Usage: scripts/bench-reserve.sh [CLIENTS] [USERS]     (env: HOST, PORT, DB)
set -euo pipefail
clients=${1:-64}
users=${2:-1000}
host=${HOST:-127.0.0.1}
port=${PORT:-3306}
db=${DB:-concert_bench_reserve_anchor}
url="mysql://root@$host:$port/$db"
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/concert-bench
sql() { mariadb -h "$host" -P "$port" -u root -N "$db" "$@"; }
cleanup() { mariadb -h "$host" -P "$port" -u root -e "DROP DATABASE IF EXISTS $db" 2>/dev/null || true; }
trap cleanup EXIT
confirmed() { sql -e "SELECT COUNT(*) FROM reservation WHERE status = 'CONFIRMED'"; }

"$bin" -q --database-url "$url" seed --reset --users "$users" >/dev/null
tool=$("$bin" -o json -q --database-url "$url" reserve --load --seats spread --strategy conditional \
  --users "$users" -c "$clients")
echo "tool:   $(jq -c '.results[0] | {succeeded, conflicts, refused, errors, seconds, throughput_per_second, p50_ms: .latency.p50_ms, p99_ms: .latency.p99_ms}' <<<"$tool")"

"$bin" -q --database-url "$url" seed --reset --users "$users" >/dev/null
sql <<'SQL'
CREATE TABLE cb_anchor_seat (n INT NOT NULL PRIMARY KEY, seat_id BIGINT NOT NULL) ENGINE = InnoDB;
SET @n = 0;
INSERT INTO cb_anchor_seat SELECT (@n := @n + 1), s.id FROM seat s
  JOIN performance p ON p.id = s.performance_id JOIN concert c ON c.id = p.concert_id
  WHERE c.status = 'OPEN' AND s.status = 'AVAILABLE' ORDER BY s.id;
SQL
# The seat count is written into the procedure: counting the table on every call is a scan
# that the tool does not pay for.
seats=$(sql -e "SELECT COUNT(*) FROM cb_anchor_seat")
sql <<SQL
DELIMITER //
CREATE PROCEDURE cb_anchor_reserve(IN v_user BIGINT)
BEGIN
  DECLARE v_pick INT;
  DECLARE v_seat BIGINT;
  DECLARE v_price BIGINT;
  DECLARE v_reservation BIGINT;
  DECLARE v_balance BIGINT;
  SET v_pick = 1 + FLOOR(RAND() * $seats);
  SELECT seat_id INTO v_seat FROM cb_anchor_seat WHERE n = v_pick;
  START TRANSACTION;
  UPDATE seat SET status = 'HELD', held_until = NOW(3) + INTERVAL 5 MINUTE, held_by = v_user,
    version = version + 1 WHERE id = v_seat AND status = 'AVAILABLE';
  IF ROW_COUNT() = 1 THEN
    SELECT price INTO v_price FROM seat WHERE id = v_seat;
    INSERT INTO reservation (user_id, seat_id, status, price, held_until, created_at, active_seat_id)
      VALUES (v_user, v_seat, 'HELD', v_price, NOW(3) + INTERVAL 5 MINUTE, NOW(3), v_seat);
    SET v_reservation = LAST_INSERT_ID();
    COMMIT;
    START TRANSACTION;
    SELECT balance INTO v_balance FROM point_wallet WHERE user_id = v_user FOR UPDATE;
    IF v_balance >= v_price THEN
      UPDATE point_wallet SET balance = balance - v_price, version = version + 1, updated_at = NOW()
        WHERE user_id = v_user;
      INSERT INTO point_ledger (user_id, kind, amount, reservation_id, created_at)
        VALUES (v_user, 'USE', -v_price, v_reservation, NOW());
      INSERT INTO payment (reservation_id, user_id, amount, status, paid_at)
        VALUES (v_reservation, v_user, v_price, 'COMPLETED', NOW(3));
      UPDATE reservation SET status = 'CONFIRMED', confirmed_at = NOW(3) WHERE id = v_reservation;
      UPDATE seat SET status = 'SOLD', held_until = NULL, version = version + 1 WHERE id = v_seat;
    END IF;
    COMMIT;
  ELSE
    ROLLBACK;
  END IF;
END//
DELIMITER ;
SQL
before=$(confirmed)
holds_before=$(sql -e "SELECT COUNT(*) FROM reservation")
# mariadb-slap's own time: its clients are connected before it starts the clock, as the
# tool's are (connecting 64 clients costs 0.26 s on MariaDB and 1.2 s on MySQL 9 here).
slap=$(mariadb-slap -h "$host" -P "$port" -u root --create-schema="$db" --no-drop \
  --query="CALL cb_anchor_reserve(1 + FLOOR(RAND() * $users))" \
  --concurrency="$clients" --number-of-queries="$users" --iterations=1)
seconds=$(sed -n 's/.*Average number of seconds to run all queries: \([0-9.]*\) seconds.*/\1/p' <<<"$slap")
done_=$(( $(confirmed) - before ))
holds=$(( $(sql -e "SELECT COUNT(*) FROM reservation") - holds_before ))
anchor=$(echo "$done_ / $seconds" | bc -l)
printf "procedure: {\"succeeded\":%d,\"holds\":%d,\"seconds\":%.3f,\"throughput_per_second\":%.1f}\n" "$done_" "$holds" "$seconds" "$anchor"
ours=$(jq '.results[0].throughput_per_second' <<<"$tool")
printf 'ratio tool/procedure: %.2f\n' "$(echo "$ours / $anchor" | bc -l)"
"$bin" -o json -q --database-url "$url" reserve --audit | jq -c '{audit}'

# The statements anchor: one SQL file per client, USERS reservations dealt out in turn.
sql -e "DROP PROCEDURE cb_anchor_reserve; DROP TABLE cb_anchor_seat"
"$bin" -q --database-url "$url" seed --reset --users "$users" >/dev/null
work=$(mktemp -d)
trap 'cleanup; rm -rf "$work"' EXIT
sql -e "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id
  JOIN concert c ON c.id = p.concert_id
  WHERE c.status = 'OPEN' AND c.booking_opens_at <= NOW() AND s.status = 'AVAILABLE' ORDER BY s.id" >"$work/seats"
awk -v users="$users" -v clients="$clients" -v dir="$work" '
  { seat[NR - 1] = $1 }
  END {
    srand(42)
    for (u = 1; u <= users; u++) {
      s = seat[int(rand() * NR)]
      f = dir "/client" ((u - 1) % clients) ".sql"
      print "START TRANSACTION;" > f
      printf "UPDATE seat s JOIN performance p ON p.id = s.performance_id JOIN concert c ON c.id = p.concert_id SET s.status = '"'"'HELD'"'"', s.held_until = NOW(3) + INTERVAL 5 MINUTE, s.held_by = %d, s.version = s.version + 1 WHERE s.id = %d AND (s.status = '"'"'AVAILABLE'"'"' OR s.status = '"'"'HELD'"'"' AND s.held_until <= NOW(3)) AND c.status = '"'"'OPEN'"'"' AND c.booking_opens_at <= NOW();\n", u, s > f
      printf "SELECT MAX(s.price), MAX(s.held_until), MAX((SELECT r.id FROM reservation r WHERE r.active_seat_id = s.id AND r.status = '"'"'HELD'"'"')), MAX(EXISTS(SELECT 1 FROM point_wallet WHERE user_id = %d)) INTO @price, @until, @lapsed, @known FROM seat s WHERE s.id = %d AND s.held_by = %d AND s.status = '"'"'HELD'"'"';\n", u, s, u > f
      printf "INSERT INTO reservation (user_id, seat_id, status, price, held_until, created_at, active_seat_id) SELECT %d, %d, '"'"'HELD'"'"', @price, @until, NOW(3), %d FROM DUAL WHERE @price IS NOT NULL;\n", u, s, s > f
      print "COMMIT;" > f
      print "START TRANSACTION;" > f
      printf "SELECT STRAIGHT_JOIN MAX(r.id), MAX(r.price), MAX(r.held_until > NOW(3)), MAX(w.balance) INTO @r, @p, @live, @bal FROM reservation r JOIN point_wallet w ON w.user_id = r.user_id WHERE r.id = LAST_INSERT_ID() AND r.user_id = %d AND r.status = '"'"'HELD'"'"' FOR UPDATE;\n", u > f
      printf "INSERT INTO point_ledger (user_id, kind, amount, reservation_id, created_at) SELECT %d, '"'"'USE'"'"', -@p, @r, NOW() FROM DUAL WHERE @live = 1 AND @bal >= @p;\n", u > f
      printf "INSERT INTO payment (reservation_id, user_id, amount, status, paid_at) SELECT @r, %d, @p, '"'"'COMPLETED'"'"', NOW(3) FROM DUAL WHERE @live = 1 AND @bal >= @p;\n", u > f
      print "UPDATE reservation r JOIN seat s ON s.id = r.seat_id JOIN point_wallet w ON w.user_id = r.user_id SET r.status = '"'"'CONFIRMED'"'"', r.confirmed_at = NOW(3), s.status = '"'"'SOLD'"'"', s.held_until = NULL, s.version = s.version + 1, w.balance = w.balance - r.price, w.version = w.version + 1, w.updated_at = NOW() WHERE r.id = @r AND @live = 1 AND @bal >= @p;" > f
      print "COMMIT;" > f
    }
  }' "$work/seats"
before=$(confirmed)
# A start line on the wall clock: every client connects first, sleeps until it, then sends
# its statements, so the anchor is timed without its connection handshakes (the tool opens
# its connections before timing too).
start=$(echo "$(date +%s.%N) + 5" | bc -l)
for f in "$work"/client*.sql; do
  { echo "DO SLEEP(GREATEST(0, $start - UNIX_TIMESTAMP(NOW(6))));"; cat "$f"; } |
    mariadb -h "$host" -P "$port" -u root "$db" >/dev/null &
done
wait
seconds=$(echo "$(date +%s.%N) - $start" | bc -l)
done_=$(( $(confirmed) - before ))
statements=$(echo "$done_ / $seconds" | bc -l)
printf "statements: {\"succeeded\":%d,\"seconds\":%.3f,\"throughput_per_second\":%.1f}\n" "$done_" "$seconds" "$statements"
printf 'ratio tool/statements: %.2f\n' "$(echo "$ours / $statements" | bc -l)"
"$bin" -o json -q --database-url "$url" reserve --audit | jq -c '{audit}'
