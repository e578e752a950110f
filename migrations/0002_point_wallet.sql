-- The CHECK is the last line of defence: no code path may drive a balance below zero.
CREATE TABLE point_wallet (
    user_id    BIGINT   NOT NULL PRIMARY KEY,
    balance    BIGINT   NOT NULL,
    version    BIGINT   NOT NULL DEFAULT 0,
    updated_at DATETIME NOT NULL,
    CONSTRAINT chk_point_wallet_balance CHECK (balance >= 0)
) ENGINE = InnoDB;
