-- The database-level guard against selling a seat twice: active_seat_id must equal seat_id while
-- the reservation is live (HELD or CONFIRMED) and must be NULL otherwise (the CHECK), and it is
-- UNIQUE, so the database refuses a second live reservation of one seat whatever the code does.
-- (A STORED generated column would say the same, but makes MariaDB's CHECKSUM TABLE vary
-- between identical tables, and `seed --rng-seed` promises identical checksums.)
CREATE TABLE reservation (
    id             BIGINT                                               NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id        BIGINT                                               NOT NULL,
    seat_id        BIGINT                                               NOT NULL,
    status         ENUM ('HELD', 'CONFIRMED', 'CANCELLED', 'EXPIRED')   NOT NULL,
    price          BIGINT                                               NOT NULL,
    held_until     DATETIME(3)                                          NOT NULL,
    created_at     DATETIME(3)                                          NOT NULL,
    confirmed_at   DATETIME(3)                                          NULL,
    active_seat_id BIGINT                                               NULL,
    CONSTRAINT chk_reservation_active_seat CHECK (
        (status IN ('HELD', 'CONFIRMED') AND active_seat_id IS NOT NULL AND active_seat_id = seat_id)
        OR (status IN ('CANCELLED', 'EXPIRED') AND active_seat_id IS NULL)
    ),
    UNIQUE KEY uq_reservation_active_seat (active_seat_id),
    KEY idx_reservation_user (user_id),
    KEY idx_reservation_seat (seat_id)
) ENGINE = InnoDB;
