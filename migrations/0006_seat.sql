-- idx_seat_performance is the write-up's week-8 index; the `none` variant ignores it by hint.
CREATE TABLE seat (
    id             BIGINT                              NOT NULL PRIMARY KEY,
    performance_id BIGINT                              NOT NULL,
    seat_no        INT                                 NOT NULL,
    grade          ENUM ('VIP', 'R', 'S', 'A')         NOT NULL,
    price          BIGINT                              NOT NULL,
    status         ENUM ('AVAILABLE', 'HELD', 'SOLD')  NOT NULL DEFAULT 'AVAILABLE',
    held_until     DATETIME(3)                         NULL,
    held_by        BIGINT                              NULL,
    version        BIGINT                              NOT NULL DEFAULT 0,
    KEY idx_seat_performance (performance_id)
) ENGINE = InnoDB;
