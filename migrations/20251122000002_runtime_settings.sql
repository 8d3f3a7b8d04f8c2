-- Process-wide settings an operator changes at run time (the fleet-wide agent suspend
-- switch), so they survive restarts. Per-channel settings live in channels.config.
CREATE TABLE runtime_settings (
    key        text        PRIMARY KEY,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
