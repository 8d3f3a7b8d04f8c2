-- Semantic memory: what the co-pilot remembers about a channel (facts, regulars, highlights,
-- rules, notes), found by meaning through a 384-d embedding (all-MiniLM-L6-v2, or any
-- endpoint model with the same dimension; the service checks it before every write).
--
-- Written rarely (operator edits, rate-limited enrichment), read by top-k cosine search.
-- Strict channel isolation is a WHERE clause on every query (src/memory/store.rs); the HNSW
-- index is global, so filtered searches use pgvector 0.8's iterative index scans to keep
-- returning rows of the right channel instead of stopping at ef_search candidates.

CREATE TABLE memory_entries (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No FK to channels: memories may be curated before a join and outlive a part.
    channel     text        NOT NULL
                            CONSTRAINT memory_channel_format CHECK (channel ~ '^[a-z0-9_]{1,25}$'),
    kind        text        NOT NULL
                            CONSTRAINT memory_kind_known
                            CHECK (kind IN ('fact', 'viewer', 'highlight', 'rule', 'note')),
    text        text        NOT NULL
                            CONSTRAINT memory_text_length CHECK (char_length(text) BETWEEN 1 AND 2000),
    source      text        NOT NULL
                            CONSTRAINT memory_source_known
                            CHECK (source IN ('operator', 'chat', 'report', 'enrichment')),
    -- Importance; near-duplicate enrichment bumps it instead of adding a row.
    weight      real        NOT NULL DEFAULT 1
                            CONSTRAINT memory_weight_range CHECK (weight >= 0 AND weight <= 1000),
    -- How many times a near-duplicate was merged into this entry.
    hits        integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Unit-length (normalised) embedding, so cosine distance ranks like inner product.
    embedding   vector(384) NOT NULL
);

-- Listing and exact (sequential) search of one channel.
CREATE INDEX memory_entries_channel_idx ON memory_entries (channel, kind, updated_at DESC);

-- Approximate nearest neighbours by cosine distance (`<=>`). pgvector's defaults (m = 16,
-- ef_construction = 64) give recall@10 above 0.95 with ef_search >= 40 on our data; see
-- docs/benchmarks.md.
CREATE INDEX memory_entries_embedding_hnsw ON memory_entries
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
