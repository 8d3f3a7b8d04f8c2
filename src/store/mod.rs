//! Postgres storage: embedded server, migrations, batched writes and channel records.
