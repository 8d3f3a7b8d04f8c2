-- Near-duplicate merging of semantic memory, scoped (issue 9's enrichment review):
-- - `subject`: the viewer a `viewer` memory is about (lower case). "alice often talks about
--   X" and "bob often talks about X" are near-duplicates by embedding, but must never merge:
--   a viewer memory merges only into an entry with the same subject.
-- - `occurred_at`: when a `highlight`'s moment happened. Two clip moments described alike
--   are two events; a highlight merges only into one of (nearly) the same moment.
-- Both are derived from the text the enricher writes (byte_actors::memory::MergeScope);
-- NULL when the text does not say (facts, rules, notes, free-form entries).

ALTER TABLE memory_entries
    ADD COLUMN subject     text        NULL,
    ADD COLUMN occurred_at timestamptz NULL;

-- Entries stored before this migration, written by the same rules.
UPDATE memory_entries
   SET subject = lower(substring(text FROM '^(\S+) often talks about \S'))
 WHERE kind = 'viewer' AND text ~ '^\S+ often talks about \S';

UPDATE memory_entries
   SET occurred_at = (substring(text FROM '^Highlight on (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC: ')
                      ::timestamp AT TIME ZONE 'UTC')
 WHERE kind = 'highlight' AND text ~ '^Highlight on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC: ';
