-- PENDING while the Point service deducts; FAILED when the saga compensated (not enough
-- points, or the hold lapsed and the points went back). A FAILED payment may be retried.
ALTER TABLE payment MODIFY status ENUM ('COMPLETED', 'REFUNDED', 'PENDING', 'FAILED') NOT NULL;
