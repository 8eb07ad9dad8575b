-- The seed's events table: every stored event, newest listed first by id.
CREATE TABLE events (
    id         BIGSERIAL    PRIMARY KEY,
    source     VARCHAR(64)  NOT NULL CHECK (source <> ''),
    topic      VARCHAR(249) NOT NULL CHECK (topic <> ''),
    payload    JSONB        NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE INDEX events_topic_idx ON events (topic);
CREATE INDEX events_created_at_idx ON events (created_at DESC);
CREATE INDEX events_source_idx ON events (source);
