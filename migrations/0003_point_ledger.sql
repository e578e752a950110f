-- Every charge (+) and use (-) of points, so that a wallet's balance can be audited as a sum.
CREATE TABLE point_ledger (
    id             BIGINT                            NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id        BIGINT                            NOT NULL,
    kind           ENUM ('CHARGE', 'USE', 'REFUND')  NOT NULL,
    amount         BIGINT                            NOT NULL,
    reservation_id BIGINT                            NULL,
    created_at     DATETIME                          NOT NULL,
    KEY idx_point_ledger_user (user_id)
) ENGINE = InnoDB;
