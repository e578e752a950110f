-- The event-driven flow's in-between states. A PENDING reservation claims its seat in this
-- table (the UNIQUE active_seat_id) while the Concert service is asked for the seat; a
-- PENDING payment waits for the Point service, and FAILED records a saga that compensated.
-- New values go last so the stored ENUM indexes of existing rows keep their meaning.
ALTER TABLE reservation
    MODIFY status ENUM ('HELD', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'PENDING') NOT NULL,
    DROP CONSTRAINT chk_reservation_active_seat,
    ADD CONSTRAINT chk_reservation_live_seat CHECK (
        (status IN ('PENDING', 'HELD', 'CONFIRMED') AND active_seat_id IS NOT NULL AND active_seat_id = seat_id)
        OR (status IN ('CANCELLED', 'EXPIRED') AND active_seat_id IS NULL)
    );
