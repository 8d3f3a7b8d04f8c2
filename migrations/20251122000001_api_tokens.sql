-- Per-channel API tokens: streamer (everything about its channel), moderator (a narrower
-- set: no token management, nothing the streamer reserves) and overlay (the read-only HUD
-- stream). Admin tokens are configuration, never stored here.
--
-- Only a SHA-256 of the secret part is stored: tokens are 256 random bits, so a fast hash
-- is enough (a slow password hash protects low-entropy secrets, which these are not), and a
-- leaked table lets nobody in. `token_id` is the public half, shown in lists and logs.
CREATE TABLE api_tokens (
    token_id     text        PRIMARY KEY,
    channel      text        NOT NULL,
    role         text        NOT NULL
                             CONSTRAINT api_tokens_role CHECK (role IN ('streamer', 'moderator', 'overlay')),
    secret_sha256 bytea      NOT NULL CONSTRAINT api_tokens_hash_len CHECK (length(secret_sha256) = 32),
    label        text        NOT NULL DEFAULT '',
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz NULL
);
CREATE INDEX api_tokens_channel_idx ON api_tokens (channel, created_at DESC);
