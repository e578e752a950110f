-- Events written in the same transaction as the state change they describe, relayed later.
CREATE TABLE outbox (
    id           BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    aggregate    VARCHAR(50)   NOT NULL,
    event_type   VARCHAR(100)  NOT NULL,
    payload      LONGTEXT      NOT NULL,
    created_at   DATETIME(3)   NOT NULL,
    published_at DATETIME(3)   NULL,
    attempts     INT           NOT NULL DEFAULT 0,
    KEY idx_outbox_unpublished (published_at, id)
) ENGINE = InnoDB;
