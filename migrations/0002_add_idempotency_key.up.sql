-- An at-least-once writer (the processor) tags each event with a key such as
-- `events/0/42` (topic, partition, position); the unique index makes a repeated write land once.
-- NULL keys never conflict, so events without a key are unaffected.
ALTER TABLE events
    ADD COLUMN idempotency_key TEXT
        CHECK (char_length(idempotency_key) BETWEEN 1 AND 512);

CREATE UNIQUE INDEX events_idempotency_key_idx ON events (idempotency_key);
