CREATE TABLE concert (
    id               BIGINT                     NOT NULL PRIMARY KEY,
    title            VARCHAR(200)               NOT NULL,
    artist           VARCHAR(100)               NOT NULL,
    venue            VARCHAR(100)               NOT NULL,
    status           ENUM ('OPEN', 'SCHEDULED') NOT NULL,
    booking_opens_at DATETIME                   NOT NULL,
    created_at       DATETIME                   NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
