-- The prompt & persona studio's versions and the post-stream reports.
--
-- Prompt profiles are append-only: every save is a new version (1, 2, ...) per channel, and
-- the channel's active profile is its highest version. A rollback does not move a pointer:
-- it appends a new version copying the chosen one (`restored_from` names it), so the history
-- reads as what was live when, by whom, and is never rewritten.

CREATE TABLE prompt_profiles (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No FK to channels: a profile may be prepared before a join and outlive a part.
    channel        text        NOT NULL
                               CONSTRAINT prompt_profile_channel_format CHECK (channel ~ '^[a-z0-9_]{1,25}$'),
    version        integer     NOT NULL CONSTRAINT prompt_profile_version_positive CHECK (version >= 1),
    -- A `PromptProfile` (byte_actors::copilot::prompt), validated by the API before insert.
    profile        jsonb       NOT NULL,
    -- The caller's audit name ("admin" or a token id), never a secret.
    author         text        NOT NULL,
    comment        text        NULL CONSTRAINT prompt_profile_comment_length CHECK (char_length(comment) <= 500),
    restored_from  integer     NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompt_profile_version_unique UNIQUE (channel, version)
);

-- Post-stream reports: deterministic figures, the narrative (labelled by its source) and the
-- rendered Markdown. One automatic report per session (the unique index makes a repeated
-- session-end event harmless); on-demand reports may be regenerated any number of times.
CREATE TABLE post_stream_reports (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel           text        NOT NULL,
    session_id        text        NOT NULL,
    trigger           text        NOT NULL
                                  CONSTRAINT report_trigger_known CHECK (trigger IN ('session_end', 'on_demand')),
    narrative_source  text        NOT NULL
                                  CONSTRAINT report_narrative_source_known CHECK (narrative_source IN ('model', 'fallback')),
    model             text        NOT NULL,
    figures           jsonb       NOT NULL,
    narrative         text        NOT NULL,
    markdown          text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX post_stream_reports_channel_created_idx ON post_stream_reports (channel, created_at DESC, id DESC);
CREATE UNIQUE INDEX post_stream_reports_session_end_once ON post_stream_reports (session_id) WHERE trigger = 'session_end';
