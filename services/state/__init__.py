"""The services' own state besides the ledger (intake's Idempotency-Keys, sharing's outbox,
the `jti` replay stores, routing's sealed policy inputs): a SQLite file per service by
default, or one PostgreSQL database shared by every instance when `KMT_STATE_DB_URL` is set."""
