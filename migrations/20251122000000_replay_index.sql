-- Restore: a channel actor replays its chat and events after its snapshot's watermark, in
-- ingest order. `seq` is now the ingest position the runtime assigns (microseconds since the
-- epoch, strictly increasing; see byte_actors::model::IngestSeq) rather than the insert-time
-- sequence default, because only the runtime knows the order its channel actors folded rows
-- in. The default stays for rows inserted by hand.
CREATE INDEX chat_messages_channel_seq_idx ON chat_messages (channel, seq);
CREATE INDEX channel_events_channel_seq_idx ON channel_events (channel, seq);
