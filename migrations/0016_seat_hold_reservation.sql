-- Which reservation a hold belongs to (set by the Concert service in the events flow), so a
-- compensation releases exactly that hold and never a later one of the same user or of
-- someone else.
ALTER TABLE seat ADD COLUMN held_for BIGINT NULL;
