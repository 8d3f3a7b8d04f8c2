-- Proposals waiting for approval, fleet-wide: the queue depth gauge counts them and the expiry
-- sweep looks for the expired ones. Both filtered on status alone, which the per-channel
-- indexes cannot serve, so each was a scan of every action ever stored (at 10,000 channels,
-- thousands of times a second). Only proposals are in this index, so it stays small.
CREATE INDEX autonomy_actions_proposed ON autonomy_actions (expires_at) WHERE status = 'proposed';
