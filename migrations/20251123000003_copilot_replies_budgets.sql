-- The co-pilot's chat replies (what the bot said, or would have said, and why) and the
-- daily LLM spend behind the budgets.

CREATE TABLE copilot_replies (
    id            bigserial PRIMARY KEY,
    channel       text        NOT NULL,
    viewer        text        NOT NULL,
    question      text        NOT NULL,
    -- The chat messages as sent (sanitised); empty when nothing went out.
    parts         jsonb       NOT NULL DEFAULT '[]'::jsonb,
    -- sent | dry_run | paused | suspended | rate_limited | duplicate | empty | banned | irc_error | unavailable
    outcome       text        NOT NULL,
    -- model | fallback
    source        text        NOT NULL,
    model         text        NOT NULL,
    tokens_in     integer     NOT NULL DEFAULT 0,
    tokens_out    integer     NOT NULL DEFAULT 0,
    -- From the question to the answer in chat (debounce included).
    latency_ms    integer     NOT NULL,
    asked_at      timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX copilot_replies_channel_created ON copilot_replies (channel, created_at DESC);

-- Spend per UTC day and channel ('' = requests made for no channel).
CREATE TABLE llm_usage (
    day           date        NOT NULL,
    channel       text        NOT NULL,
    tokens        bigint      NOT NULL DEFAULT 0,
    microdollars  bigint      NOT NULL DEFAULT 0,
    requests      bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (day, channel)
);

-- Per-channel caps that replace the configured default (NULL: no cap of that kind; 0 too).
CREATE TABLE llm_channel_budgets (
    channel            text PRIMARY KEY,
    daily_tokens       bigint NOT NULL,
    daily_microdollars bigint NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         text NOT NULL
);

-- Per-channel model routing: a channel's model for an activity, overriding the configured
-- route (the API accepts only models of the catalog, so metric labels stay bounded).
CREATE TABLE channel_models (
    channel     text NOT NULL,
    activity    text NOT NULL,
    model       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL,
    PRIMARY KEY (channel, activity)
);
