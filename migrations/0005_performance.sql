-- idx_performance_concert is the write-up's week-8 index; the `none` variant ignores it by hint.
CREATE TABLE performance (
    id         BIGINT   NOT NULL PRIMARY KEY,
    concert_id BIGINT   NOT NULL,
    starts_at  DATETIME NOT NULL,
    KEY idx_performance_concert (concert_id)
) ENGINE = InnoDB;
