"""PostgreSQL login roles for the services: one place for what the ledger's and the state
database's migrations both do (`kmt audit init-db`, `kmt state init-db`)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict


class WriterRoleRefused(ValueError):
    """The writer role could do more than it is granted: a migration grants nothing."""


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url: str) -> bool:
    """Whether a database URL names PostgreSQL (else: empty for the SQLite default)."""
    return url.startswith(POSTGRES_SCHEMES)


def role_of(url: str) -> tuple[str | None, str | None]:
    """The user name and password a `postgresql://` URL connects with."""
    params = conninfo_to_dict(url)
    user, password = params.get("user"), params.get("password")
    return (str(user) if user else None, str(password) if password else None)


def ensure_login_role(connection: psycopg.Connection[Any], role: str, password: str | None) -> None:
    """As the owner: create `role` (LOGIN, nothing more) if missing, set its password if
    given, and let it use the current schema. Refuses the owner itself."""
    name = pgsql.Identifier(role)
    owner = connection.execute("SELECT current_user").fetchone()
    if owner and owner[0] == role:
        raise WriterRoleRefused(f"schrijfrol {role} is de eigenaar zelf: kies een andere rol")
    secret: pgsql.Composable = pgsql.SQL("")
    if password:
        hashed = connection.pgconn.encrypt_password(password.encode(), role.encode())
        secret = pgsql.SQL(" PASSWORD {}").format(pgsql.Literal(hashed.decode()))
    if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
        if password:
            connection.execute(pgsql.SQL("ALTER ROLE {}{}").format(name, secret))
    else:
        connection.execute(
            pgsql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
                " NOBYPASSRLS{}"
            ).format(name, secret)
        )
    schema = connection.execute("SELECT current_schema()").fetchone()
    if schema and schema[0]:
        connection.execute(
            pgsql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(pgsql.Identifier(schema[0]), name)
        )
