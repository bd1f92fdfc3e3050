"""Open the ledger the settings name: SQLite in `data_dir` by default, or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from services.audit.keys import checkpoint_key
from services.audit.ledger import Ledger
from services.audit.postgres_store import PostgresStore
from services.audit.sqlite_store import SqliteStore
from services.audit.store import Store
from services.common.postgres_roles import is_postgres
from services.common.settings import Settings

SQLITE_FILE = "audit.sqlite3"


def open_store(settings: Settings) -> Store:
    url = settings.audit_db_url
    if is_postgres(url):
        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    if url:
        raise ValueError("KMT_AUDIT_DB_URL moet leeg zijn, sqlite:///pad of postgresql://...")
    return SqliteStore(settings.data_dir / SQLITE_FILE)


def open_ledger(settings: Settings) -> Ledger:
    return Ledger(
        open_store(settings),
        checkpoint_key(settings.keys_dir),
        checkpoint_every=settings.audit_checkpoint_entries,
    )


def open_appender(settings: Settings) -> Ledger:
    """The ledger for appending and reading only, without the checkpoint key (the policy
    lifecycle): the audit service signs the checkpoints over its entries."""
    return Ledger(open_store(settings), None)
