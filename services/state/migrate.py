"""The state database's schema in PostgreSQL, made by its owner (`kmt state init-db SERVICE`,
a one-shot step before the service starts, again after each upgrade), and the service's
writer role: it logs in, owns nothing, is no superuser, and may only do what `GRANTS` of its
own service's stores name, on those tables alone (intake's role cannot read sharing's
outbox, sharing's role cannot delete a disclosure). Several instances of a service connect
as the same writer."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql as pgsql

from services.common import deliveries
from services.common.partner_auth import REPLAY_GRANTS, replay_schema, replay_table
from services.common.postgres_roles import WriterRoleRefused, ensure_login_role
from services.intake import idempotency, status
from services.routing import history
from services.sharing import acute, outbox, partner_webhooks

MIGRATE_LOCK = 0x4B4D54_5354  # "KMT" "ST": one migration of the state database at a time
SERVICES = ("intake", "routing", "sharing", "alerts", "dry-run")
"""`dry-run` is `kmt policy dry-run` in a deployment: routing's history, read-only."""
ALERTS_PREFIX = "alert_"  # services.alerts.service.PREFIX (that module needs the bus)


def stores(service: str) -> list[tuple[str, dict[str, str]]]:
    """(schema, privileges per table) of each store `service` keeps in the state database."""
    if service == "routing":
        return [(history.SCHEMA, history.GRANTS)]
    if service == "dry-run":
        return [(history.SCHEMA, history.DRY_RUN_GRANTS)]
    if service == "alerts":
        return [(deliveries.schema(ALERTS_PREFIX), deliveries.grants(ALERTS_PREFIX))]
    replay = (replay_schema(service), {replay_table(service): REPLAY_GRANTS})
    if service == "intake":
        return [(idempotency.SCHEMA, idempotency.GRANTS), (status.SCHEMA, status.GRANTS), replay]
    notices = partner_webhooks.PREFIX
    return [
        (outbox.schema(postgres=True), outbox.GRANTS),
        (acute.SCHEMA, acute.GRANTS),
        (deliveries.schema(notices), deliveries.grants(notices)),
        replay,
    ]


def init_schema(
    owner_url: str, service: str, writer_role: str | None, writer_password: str | None = None
) -> None:
    """As the owner: create what is missing of `service`'s tables; with `writer_role`, create
    that role if missing and grant it exactly its service's privileges. `WriterRoleRefused`
    (nothing changed) when that role is the owner or a superuser."""
    with psycopg.connect(owner_url, autocommit=True) as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATE_LOCK])
        for schema, _ in stores(service):
            connection.execute(schema)
        if writer_role:
            _grant(connection, service, writer_role, writer_password)


def _grant(
    connection: psycopg.Connection[Any], service: str, role: str, password: str | None
) -> None:
    ensure_login_role(connection, role, password)
    name = pgsql.Identifier(role)
    for _, grants in stores(service):
        for table, privileges in grants.items():
            connection.execute(
                pgsql.SQL("REVOKE ALL ON {} FROM PUBLIC, {}").format(pgsql.Identifier(table), name)
            )
            connection.execute(
                pgsql.SQL(f"GRANT {privileges} ON {{}} TO {{}}").format(
                    pgsql.Identifier(table), name
                )
            )
    problems = writer_problems(connection, service, role)
    if problems:
        raise WriterRoleRefused(f"schrijfrol {role} mag te veel: " + "; ".join(problems))


def writer_problems(connection: psycopg.Connection[Any], service: str, role: str) -> list[str]:
    """What makes `role` unfit as `service`'s writer, in Dutch."""
    row = connection.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    if row is None:
        return [f"rol {role} bestaat niet"]
    problems = ["is superuser"] if row[0] else []
    for _, grants in stores(service):
        for table in grants:
            owns = connection.execute(
                "SELECT pg_has_role(%s, c.relowner, 'MEMBER') FROM pg_class c"
                " WHERE c.oid = to_regclass(%s)",
                [role, table],
            ).fetchone()
            if owns and owns[0]:
                problems.append(f"is (lid van) de eigenaar van {table}")
    return problems
