-- The write-up's six "week 8" scenario queries: concert-bench's built-in workload, the one
-- `query` and `explain` run when no --workload is given. A workload of your own has the same
-- form (docs/workloads.md):
--
--   -- name: NAME                 starts a statement (letters, digits, _), unique in the file
--   -- about: TEXT                what it is, for people (optional)
--   -- param: NAME = DISTRIBUTION  a value drawn per execution, written :NAME in the SQL
--   SELECT ...;                    one SELECT (or WITH ... SELECT), up to the next `-- name:`
--
-- Distributions: uniform(TABLE.COLUMN) and zipf(S, TABLE.COLUMN) draw from the column's
-- values (a seeded random sample of up to 10,000 of them); uniform(SELECT ...) and
-- zipf(S, SELECT ...) from the first column of a query of your own; value(LITERAL) is one
-- fixed value.

-- name: concerts_with_dates
-- about: 1. all concerts with their bookable dates (concert JOIN performance)
SELECT c.id, c.title, c.artist, c.status, p.id, p.starts_at
FROM concert c JOIN performance p ON p.concert_id = c.id
ORDER BY c.id, p.starts_at;

-- name: concert_detail
-- about: 2. one concert by id with its performances and seats
-- param: concert_id = uniform(SELECT id FROM concert WHERE status = 'OPEN')
SELECT c.id, c.title, p.id, p.starts_at, s.id, s.seat_no, s.grade, s.price, s.status, s.version
FROM concert c JOIN performance p ON p.concert_id = c.id
JOIN seat s ON s.performance_id = p.id
WHERE c.id = :concert_id;

-- name: concert_by_seat
-- about: 3. concert by seat id
-- param: seat_id = uniform(seat.id)
SELECT c.id, c.title, c.artist, c.venue, c.status
FROM seat s JOIN performance p ON p.id = s.performance_id
JOIN concert c ON c.id = p.concert_id
WHERE s.id = :seat_id;

-- name: performance_by_seat
-- about: 4. performance by seat id
-- param: seat_id = uniform(seat.id)
SELECT p.id, p.concert_id, p.starts_at
FROM seat s JOIN performance p ON p.id = s.performance_id
WHERE s.id = :seat_id;

-- name: seat_by_id
-- about: 5. seat by seat id
-- param: seat_id = uniform(seat.id)
SELECT s.id, s.performance_id, s.seat_no, s.grade, s.price, s.status
FROM seat s
WHERE s.id = :seat_id;

-- name: reservation_by_id
-- about: 6. reservation by id with its seat
-- param: reservation_id = uniform(reservation.id)
SELECT r.id, r.user_id, r.status, r.price, r.held_until, s.id, s.seat_no, s.grade
FROM reservation r JOIN seat s ON s.id = r.seat_id
WHERE r.id = :reservation_id;
