-- Channel intelligence history: per-minute rollups, stream sessions, coaching hints and clip
-- candidates. Low volume (per channel per minute at most), written as JSON rows through
-- jsonb_populate_recordset, so every column is always supplied by the writer.

CREATE TABLE channel_rollups (
    channel        text             NOT NULL,
    minute         timestamptz      NOT NULL,
    messages       integer          NOT NULL,
    chatters       integer          NOT NULL,
    new_chatters   integer          NOT NULL,
    sentiment      double precision NOT NULL,
    health         double precision NULL,
    health_factors jsonb            NOT NULL,
    churn_risk     double precision NULL,
    subs           integer          NOT NULL,
    gifts          integer          NOT NULL,
    bits           bigint           NOT NULL,
    raids          integer          NOT NULL,
    hints          integer          NOT NULL,
    PRIMARY KEY (channel, minute)
);

CREATE TABLE stream_sessions (
    session_id  text        PRIMARY KEY,
    channel     text        NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NULL,
    end_reason  text        NULL,
    kpis        jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX stream_sessions_channel_started_idx ON stream_sessions (channel, started_at DESC);

CREATE TABLE channel_hints (
    hint_id     text        PRIMARY KEY,
    channel     text        NOT NULL,
    kind        text        NOT NULL,
    priority    text        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    hint        jsonb       NOT NULL
);
CREATE INDEX channel_hints_channel_created_idx ON channel_hints (channel, created_at DESC);

CREATE TABLE clip_candidates (
    clip_id   text             PRIMARY KEY,
    channel   text             NOT NULL,
    at        timestamptz      NOT NULL,
    strength  double precision NOT NULL,
    clip      jsonb            NOT NULL
);
CREATE INDEX clip_candidates_channel_at_idx ON clip_candidates (channel, at DESC);
