-- PARKED: the consumer gave up on the event after its tries (a poison event); it is recorded
-- so nothing redelivers it, and the error says why.
ALTER TABLE processed_event
    ADD COLUMN outcome ENUM ('APPLIED', 'PARKED') NOT NULL DEFAULT 'APPLIED',
    ADD COLUMN error   VARCHAR(500) NULL;
