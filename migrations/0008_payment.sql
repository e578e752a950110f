-- One payment per reservation, enforced by the database.
CREATE TABLE payment (
    id             BIGINT                          NOT NULL AUTO_INCREMENT PRIMARY KEY,
    reservation_id BIGINT                          NOT NULL,
    user_id        BIGINT                          NOT NULL,
    amount         BIGINT                          NOT NULL,
    status         ENUM ('COMPLETED', 'REFUNDED')  NOT NULL,
    paid_at        DATETIME(3)                     NOT NULL,
    UNIQUE KEY uq_payment_reservation (reservation_id)
) ENGINE = InnoDB;
