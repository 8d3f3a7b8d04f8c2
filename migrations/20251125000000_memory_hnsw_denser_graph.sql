-- A denser HNSW graph for semantic memory: m 24, ef_construction 128 instead of pgvector's
-- defaults (16, 64). On the 1M-entry benchmark set the default graph reached recall@10 of only
-- 0.82 at ef_search 100 (0.89 at 200); the denser one reaches 0.99 at ef_search 100, at about
-- the same search latency and twice the build time (docs/benchmarks.md, "Semantic memory").
-- Small tables are rebuilt in moments; a large one takes minutes per million entries, so the
-- build gets working memory for the graph (it is slow once the graph spills to disk).
SET LOCAL maintenance_work_mem = '1GB';

DROP INDEX IF EXISTS memory_entries_embedding_hnsw;

CREATE INDEX memory_entries_embedding_hnsw ON memory_entries
    USING hnsw (embedding vector_cosine_ops) WITH (m = 24, ef_construction = 128);
