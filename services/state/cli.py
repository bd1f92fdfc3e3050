"""`kmt state init-db SERVICE`: the one-shot migration of the state database in PostgreSQL."""

from __future__ import annotations

from typing import Annotated

import typer

from services.common.postgres_roles import WriterRoleRefused, is_postgres, role_of
from services.state.migrate import SERVICES, init_schema

cli = typer.Typer(
    no_args_is_help=True,
    help="De toestandsdatabase van intake, routing, sharing en alerts (en de proefdraai).",
)


@cli.command("init-db")
def init_db(
    service: Annotated[str, typer.Argument(help=f"welke service: {' of '.join(SERVICES)}")],
    owner_url: Annotated[
        str | None,
        typer.Option(
            envvar="KMT_STATE_OWNER_DB_URL",
            show_envvar=True,
            show_default=False,
            help="postgresql://-URL van de eigenaar, die het schema aanmaakt en bijwerkt",
        ),
    ] = None,
    writer_url: Annotated[
        str | None,
        typer.Option(
            envvar="KMT_STATE_DB_URL",
            show_envvar=True,
            show_default=False,
            help="URL waarmee de service verbindt: haar schrijfrol en het wachtwoord daarvan",
        ),
    ] = None,
) -> None:
    """Maak of werk de tabellen van SERVICE bij in PostgreSQL, als eigenaar, en maak haar
    schrijfrol (indien nodig) met alleen de rechten op haar eigen tabellen.

    Eenmalig vóór de service start (voor alle instanties samen), en opnieuw na elke upgrade.
    """
    if service not in SERVICES:
        typer.echo(f"onbekende service {service}: kies {' of '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    if not owner_url or not is_postgres(owner_url):
        typer.echo("geef de postgresql://-URL van de eigenaar (KMT_STATE_OWNER_DB_URL)", err=True)
        raise typer.Exit(2)
    role, password = role_of(writer_url) if writer_url and is_postgres(writer_url) else (None, None)
    try:
        init_schema(owner_url, service, role, password)
    except WriterRoleRefused as exc:
        typer.echo(f"{exc}; er is niets veranderd", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"toestandsschema van {service} bijgewerkt; schrijfrol {role} mag alleen bij haar eigen"
        " tabellen"
        if role
        else f"toestandsschema van {service} bijgewerkt (geen schrijfrol opgegeven)"
    )
