-- Initial schema: joined channels, the raw chat and event streams, and per-channel snapshots.
--
-- The two stream tables are the hot path (target: 50,000 chat rows/s on 2 cores), so they have
-- no foreign keys (a FK check per row would double the cost and couple ingest to the channels
-- table), no triggers, and only the indexes a query actually needs: the primary key, which makes
-- writes idempotent (`ON CONFLICT DO NOTHING`), and one (channel, time) index for per-channel
-- history reads. Every extra index is another random B-tree insert per row.

-- pgvector, for embeddings in later migrations. Created here so a missing extension fails at
-- start-up rather than at the first migration that needs it.
CREATE EXTENSION IF NOT EXISTS vector;

-- Channels Byte sits in. Small, rarely written: constraints are cheap here.
CREATE TABLE channels (
    -- Same rule as `ChannelLogin::parse`: 4-25 characters of a-z, 0-9 and _.
    login       text        PRIMARY KEY
                            CONSTRAINT channels_login_format CHECK (login ~ '^[a-z0-9_]{4,25}$'),
    -- Twitch's numeric room id, learnt from ROOMSTATE once joined.
    room_id     text        NULL,
    active      boolean     NOT NULL DEFAULT true,
    -- Per-channel settings (persona, limits, ...), always a JSON object.
    config      jsonb       NOT NULL DEFAULT '{}'::jsonb
                            CONSTRAINT channels_config_object CHECK (jsonb_typeof(config) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Ingest order shared by chat_messages and channel_events (a `bigserial` default, but one
-- sequence for both tables): a snapshot's single watermark_seq then covers both streams, and
-- replay can merge them in the order they were written.
CREATE SEQUENCE stream_seq AS bigint;

-- One row per chat message, idempotent on Twitch's message id.
CREATE TABLE chat_messages (
    message_id    text        PRIMARY KEY,
    -- No FK to channels: chat may arrive for a channel being parted, and legacy Twitch logins
    -- can be shorter than channels_login_format allows.
    channel       text        NOT NULL,
    room_id       text        NULL,
    user_id       text        NOT NULL,
    user_login    text        NOT NULL,
    display_name  text        NOT NULL,
    text          text        NOT NULL,
    bits          bigint      NULL,
    badges        text        NOT NULL,
    emotes        text        NOT NULL,
    is_moderator  boolean     NOT NULL,
    is_subscriber boolean     NOT NULL,
    sent_at       timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    -- Ingest order, assigned at insert. Snapshots record the highest seq they include, so a
    -- restart replays only rows with a larger seq. Not indexed yet: add (channel, seq) together
    -- with the replay query that needs it.
    seq           bigint      NOT NULL DEFAULT nextval('stream_seq')
);

CREATE INDEX chat_messages_channel_sent_at_idx ON chat_messages (channel, sent_at);

-- Subs, raids, bits, moderation actions, ...: one row per event, idempotent on event_id.
CREATE TABLE channel_events (
    event_id    text        PRIMARY KEY,
    channel     text        NOT NULL,
    -- `EventKind::as_str()`. Not a CHECK/enum: adding a kind must not need a migration that
    -- rewrites or locks the hot table.
    kind        text        NOT NULL,
    user_login  text        NULL,
    amount      bigint      NULL,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL,
    seq         bigint      NOT NULL DEFAULT nextval('stream_seq')
);

CREATE INDEX channel_events_channel_occurred_at_idx ON channel_events (channel, occurred_at);

-- Latest folded state of each channel actor, with the stream position it covers.
CREATE TABLE channel_snapshots (
    channel       text        PRIMARY KEY,
    state         jsonb       NOT NULL,
    -- Highest stream_seq value (chat_messages.seq / channel_events.seq) folded into `state`.
    watermark_seq bigint      NOT NULL,
    taken_at      timestamptz NOT NULL DEFAULT now()
);
