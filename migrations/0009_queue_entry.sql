-- The database waiting queue that Redis replaced: position is a COUNT over earlier waiting rows.
CREATE TABLE queue_entry (
    id           BIGINT                                 NOT NULL AUTO_INCREMENT PRIMARY KEY,
    concert_id   BIGINT                                 NOT NULL,
    user_id      BIGINT                                 NOT NULL,
    token        CHAR(36)                               NOT NULL,
    status       ENUM ('WAITING', 'ACTIVE', 'EXPIRED')  NOT NULL,
    entered_at   DATETIME(3)                            NOT NULL,
    activated_at DATETIME(3)                            NULL,
    expires_at   DATETIME(3)                            NULL,
    UNIQUE KEY uq_queue_entry_user (concert_id, user_id),
    UNIQUE KEY uq_queue_entry_token (token),
    KEY idx_queue_entry_status (concert_id, status, id)
) ENGINE = InnoDB;
