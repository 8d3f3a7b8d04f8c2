-- Autonomy: the action queue, per-channel autonomy policy and session goals, each closed
-- session's goal outcomes, and playbook runs.

-- Every action autonomy, a playbook or an operator decided. `idempotency_key` is derived
-- from the decision itself (intent, session, chatter, time bucket), so a retried submit or
-- a restarted channel actor deciding the same thing again stores it once.
CREATE TABLE autonomy_actions (
    id               bigserial   PRIMARY KEY,
    channel          text        NOT NULL,
    idempotency_key  text        NOT NULL,
    kind             text        NOT NULL
                                 CONSTRAINT autonomy_actions_kind CHECK (kind IN ('chat_message', 'coaching_hint', 'slow_mode')),
    intent           text        NOT NULL,
    origin           text        NOT NULL
                                 CONSTRAINT autonomy_actions_origin CHECK (origin IN ('autonomy', 'playbook', 'operator')),
    playbook         text        NULL,
    payload          jsonb       NOT NULL,
    -- The explanation shown to the streamer.
    reason           text        NOT NULL,
    target           text        NULL,
    session_id       text        NULL,
    -- `executing` is held while the edge runs it (at most once: never retried after a crash);
    -- `acknowledged`: an action the streamer carries out by hand (slow mode) was confirmed.
    status           text        NOT NULL
                                 CONSTRAINT autonomy_actions_status CHECK (status IN
                                   ('proposed', 'approved', 'rejected', 'executing', 'executed',
                                    'failed', 'expired', 'acknowledged')),
    auto             boolean     NOT NULL DEFAULT false,
    -- When it was decided, on the runtime's clock.
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    decided_by       text        NULL,
    decided_at       timestamptz NULL,
    executed_at      timestamptz NULL,
    result           jsonb       NULL,
    CONSTRAINT autonomy_actions_key UNIQUE (channel, idempotency_key)
);
CREATE INDEX autonomy_actions_by_status ON autonomy_actions (channel, status, created_at DESC);
CREATE INDEX autonomy_actions_recent ON autonomy_actions (channel, created_at DESC);

-- Policy (modes per action kind, step interval, hourly cap) and goals per channel.
CREATE TABLE autonomy_settings (
    channel     text        PRIMARY KEY,
    policy      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    goals       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text        NULL
);

-- Each goal's KPI per closed session (what the post-stream report reads).
CREATE TABLE goal_outcomes (
    channel      text        NOT NULL,
    session_id   text        NOT NULL,
    kind         text        NOT NULL,
    name         text        NOT NULL,
    target       float8      NOT NULL,
    actual       float8      NOT NULL,
    met          boolean     NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, session_id, kind)
);

CREATE TABLE playbook_runs (
    id           bigserial   PRIMARY KEY,
    channel      text        NOT NULL,
    run_key      text        NOT NULL,
    playbook     text        NOT NULL,
    trigger      text        NOT NULL CONSTRAINT playbook_runs_trigger CHECK (trigger IN ('automatic', 'manual')),
    at           timestamptz NOT NULL,
    evidence     text        NOT NULL,
    action_keys  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    session_id   text        NULL,
    triggered_by text        NULL,
    CONSTRAINT playbook_runs_key UNIQUE (channel, run_key)
);
CREATE INDEX playbook_runs_recent ON playbook_runs (channel, at DESC);
