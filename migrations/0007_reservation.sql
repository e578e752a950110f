-- active_seat_id holds seat_id only while the reservation is live (HELD or CONFIRMED), and it is
-- UNIQUE: the database itself refuses a second live reservation of one seat, whatever the
-- application code does.
CREATE TABLE reservation (
    id             BIGINT                                               NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id        BIGINT                                               NOT NULL,
    seat_id        BIGINT                                               NOT NULL,
    status         ENUM ('HELD', 'CONFIRMED', 'CANCELLED', 'EXPIRED')   NOT NULL,
    price          BIGINT                                               NOT NULL,
    held_until     DATETIME(3)                                          NOT NULL,
    created_at     DATETIME(3)                                          NOT NULL,
    confirmed_at   DATETIME(3)                                          NULL,
    active_seat_id BIGINT AS (CASE WHEN status IN ('HELD', 'CONFIRMED') THEN seat_id END) STORED,
    UNIQUE KEY uq_reservation_active_seat (active_seat_id),
    KEY idx_reservation_user (user_id),
    KEY idx_reservation_seat (seat_id)
) ENGINE = InnoDB;
