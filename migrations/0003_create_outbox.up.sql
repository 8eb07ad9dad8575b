-- The transactional outbox: an application inserts envelopes here in its own transaction, and
-- relays forward them once it commits (switchboard_postgres::outbox). `seq` orders rows per key;
-- `id` is the envelope id, so downstream deduplication recognises a re-sent row.
CREATE TABLE outbox (
    seq          BIGSERIAL    PRIMARY KEY,
    id           UUID         NOT NULL UNIQUE,
    subject      VARCHAR(255) NOT NULL CHECK (subject <> ''),
    key          TEXT,
    headers      JSONB        NOT NULL DEFAULT '{}'::jsonb,
    payload      BYTEA        NOT NULL,
    created_at   TIMESTAMPTZ  NOT NULL,
    enqueued_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    delivered_at TIMESTAMPTZ
);

-- What relays scan: pending rows in order, and pending rows of one key.
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_pending_key_idx ON outbox (key, seq) WHERE delivered_at IS NULL;

-- Wakes listening relays when a transaction that enqueued rows commits (never on rollback).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
