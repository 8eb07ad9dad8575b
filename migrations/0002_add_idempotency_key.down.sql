DROP INDEX IF EXISTS events_idempotency_key_idx;
ALTER TABLE events DROP COLUMN IF EXISTS idempotency_key;
