"""`kmt`: the one entry point for people — run the system or one service, and the tools
operators, privacy officers and partners' developers use."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from services.common.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="KMT signaaluitwisseling")
topics_cli = typer.Typer(no_args_is_help=True, help="Kafka-topics")
schemas_cli = typer.Typer(no_args_is_help=True, help="JSON Schemas van de events")
policies_cli = typer.Typer(no_args_is_help=True, help="Het deelbeleid (Rego)")
demo_cli = typer.Typer(no_args_is_help=True, help="De lokale demo (kmt up)")
app.add_typer(topics_cli, name="topics")
app.add_typer(schemas_cli, name="schemas")
app.add_typer(policies_cli, name="policies")
app.add_typer(demo_cli, name="demo")

REPO = Path(__file__).resolve().parents[1]


def _logging() -> None:
    # Ids and event positions only: the services never log melding content.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


@app.command()
def up() -> None:
    """Start Kafka, OPA en de vier services lokaal; Ctrl-C stopt alles."""
    from services.devstack.up import run

    run()


@app.command()
def intake() -> None:
    """Start de intake-service (POST /v1/meldingen)."""
    from services.bus.runtime import serve
    from services.intake.app import create_app

    _logging()
    settings = get_settings()
    serve(create_app(settings), settings, settings.intake_port)


@app.command()
def routing() -> None:
    """Start de routing-worker (beslissingen via OPA)."""
    from services.routing.worker import run

    _logging()
    run(get_settings())


@app.command()
def sharing() -> None:
    """Start de sharing-service (disclosures en partner-API)."""
    from services.bus.runtime import serve
    from services.sharing.app import create_app

    _logging()
    settings = get_settings()
    serve(create_app(settings), settings, settings.sharing_port)


def _register_audit() -> None:
    """`kmt audit` runs the service; `kmt audit verify` etc. are the audit tools."""
    from services.audit.cli import cli as audit_cli
    from services.audit.cli import serve

    @audit_cli.callback(invoke_without_command=True)
    def audit(ctx: typer.Context) -> None:
        """Start de audit-service, of gebruik een van de audit-commando's."""
        if ctx.invoked_subcommand is None:
            _logging()
            serve()

    app.add_typer(audit_cli, name="audit")

    from services.audit.erasure_cli import erase_command, retention_cli

    app.command("erase")(erase_command)
    app.add_typer(retention_cli, name="retention")


_register_audit()


def _register_tools() -> None:
    from services.partner_client.cli import fetch_command
    from services.routing.decide import decide_command
    from services.sharing.admin_cli import keys_cli, partners_cli

    app.command("decide")(decide_command)
    app.add_typer(keys_cli, name="keys")
    app.add_typer(partners_cli, name="partners")
    partner_cli = typer.Typer(no_args_is_help=True, help="Referentieclient voor partners")
    partner_cli.command("fetch")(fetch_command)
    app.add_typer(partner_cli, name="partner")


_register_tools()


@topics_cli.command("ensure")
def topics_ensure() -> None:
    """Maak ontbrekende topics aan (met partities en retentie)."""
    from services.bus.kafka import ensure_topics

    created = asyncio.run(ensure_topics(get_settings(), wait_seconds=120))
    typer.echo(f"aangemaakt: {', '.join(created)}" if created else "alle topics bestaan al")


@policies_cli.command("bundle")
def policies_bundle(directory: Path) -> None:
    """Schrijf de OPA-bundle (beleid + revisie) naar DIRECTORY."""
    from services.policy.engine import write_bundle

    typer.echo(write_bundle(REPO / "policies", directory))


@demo_cli.command("prepare")
def demo_prepare() -> None:
    """Maak KMT-sleutels, demo-partners en een demo-privacy officer aan (wat ontbreekt)."""
    from services.devstack.demo import prepare

    for line in prepare(get_settings()):
        typer.echo(f"aangemaakt: {line}")


@demo_cli.command("token")
def demo_token(
    service: str = typer.Argument("intake", help="intake of sharing"),
    partner: str = typer.Option("wijkteam-almelo", help="demo-partner"),
) -> None:
    """Vraag als demo-partner een toegangstoken aan (private_key_jwt) en print het."""
    from services.devstack.demo import demo_client

    settings = get_settings()
    port = {"intake": settings.intake_port, "sharing": settings.sharing_port}[service]
    typer.echo(demo_client(partner, settings).token(f"http://127.0.0.1:{port}"))


@schemas_cli.command("export")
def schemas_export(
    directory: Path = typer.Option(REPO / "schemas", help="doelmap"),
) -> None:
    """Schrijf de JSON Schemas van de event-data naar schemas/."""
    from services.common.schemas import export

    for path in export(directory):
        typer.echo(str(path))


if __name__ == "__main__":
    app()
