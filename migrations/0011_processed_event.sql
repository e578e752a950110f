-- A consumer records each event it applied, so a redelivered event is recognised and skipped.
CREATE TABLE processed_event (
    consumer     VARCHAR(64)  NOT NULL,
    event_id     BIGINT       NOT NULL,
    processed_at DATETIME(3)  NOT NULL,
    PRIMARY KEY (consumer, event_id)
) ENGINE = InnoDB;
