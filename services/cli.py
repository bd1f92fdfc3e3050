"""`kmt`: the one entry point for people — run the system or one service, and the tools
operators, privacy officers and partners' developers use."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from services.common import logs
from services.common.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="KMT signaaluitwisseling")
topics_cli = typer.Typer(no_args_is_help=True, help="Kafka-topics")
schemas_cli = typer.Typer(no_args_is_help=True, help="JSON Schemas van de events")
demo_cli = typer.Typer(no_args_is_help=True, help="De lokale demo (kmt up)")
staff_cli = typer.Typer(
    no_args_is_help=True, help="Medewerkers: privacy officers, operators en KMT-medewerkers"
)
app.add_typer(topics_cli, name="topics")
app.add_typer(schemas_cli, name="schemas")
app.add_typer(demo_cli, name="demo")
app.add_typer(staff_cli, name="staff")

REPO = Path(__file__).resolve().parents[1]


def _logging() -> None:
    # Ids and event positions only: the services never log melding content, nor an exception's
    # message (services/common/logs.py).
    logs.configure()


@app.command()
def up() -> None:
    """Start Kafka, OPA en de services lokaal; Ctrl-C stopt alles."""
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


@app.command()
def console() -> None:
    """Start de webconsole voor privacy officers, KMT-medewerkers en operators."""
    from services.bus.runtime import serve
    from services.console.app import create_app

    _logging()
    settings = get_settings()
    serve(create_app(settings), settings, settings.console_port)


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


def _register_alerts() -> None:
    """`kmt alerts` runs the service; `kmt alerts attempts` etc. are its tools."""
    from services.alerts.cli import cli as alerts_cli

    @alerts_cli.callback(invoke_without_command=True)
    def alerts(ctx: typer.Context) -> None:
        """Start de alerts-service, of gebruik een van de alerts-commando's."""
        if ctx.invoked_subcommand is None:
            from services.alerts.service import run

            _logging()
            run(get_settings())

    app.add_typer(alerts_cli, name="alerts")


_register_alerts()


def _register_tools() -> None:
    from services.partner_client.cli import fetch_command, prove_command
    from services.partner_client.keygen import keys_command
    from services.routing.decide import decide_command
    from services.sharing.admin_cli import keys_cli, partners_cli

    app.command("decide")(decide_command)
    app.add_typer(keys_cli, name="keys")
    app.add_typer(partners_cli, name="partners")
    partner_cli = typer.Typer(no_args_is_help=True, help="Referentieclient voor partners")
    partner_cli.command("fetch")(fetch_command)
    partner_cli.command("keys")(keys_command)
    partner_cli.command("prove")(prove_command)
    app.add_typer(partner_cli, name="partner")
    from services.policy.cli import cli as policy_cli
    from services.policy.dry_run_cli import dry_run_command
    from services.policy.lifecycle_cli import register as register_lifecycle
    from services.state.cli import cli as state_cli

    policy_cli.command("dry-run")(dry_run_command)
    register_lifecycle(policy_cli)
    app.add_typer(policy_cli, name="policy")
    app.add_typer(state_cli, name="state")


_register_tools()


@topics_cli.command("ensure")
def topics_ensure() -> None:
    """Maak ontbrekende topics aan (met partities en retentie)."""
    from services.bus.kafka import ensure_topics

    created = asyncio.run(ensure_topics(get_settings(), wait_seconds=120))
    typer.echo(f"aangemaakt: {', '.join(created)}" if created else "alle topics bestaan al")


@demo_cli.command("prepare")
def demo_prepare() -> None:
    """Maak KMT-sleutels, demo-partners en een demo-privacy officer aan (wat ontbreekt)."""
    from services.devstack.demo import prepare

    for line in prepare(get_settings()):
        typer.echo(f"aangemaakt: {line}")


def _register_replay() -> None:
    from services.devstack.replay import replay_command

    demo_cli.command("replay")(replay_command)


_register_replay()


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


@staff_cli.command("add")
def staff_add(
    staff_id: str, role: str = typer.Argument(help="privacy_officer, operator of kmt_worker")
) -> None:
    """Voeg een medewerker toe (of geef een andere rol); het token wordt één keer getoond."""
    from services.common.staff import ROLES, add_member

    if role not in ROLES:
        typer.echo(f"onbekende rol; kies uit: {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    typer.echo(add_member(staff_id, role))


@staff_cli.command("token")
def staff_token(staff_id: str) -> None:
    """Geef een medewerker een nieuw token (het oude vervalt); één keer getoond."""
    from services.common.staff import issue_token

    try:
        typer.echo(issue_token(staff_id))
    except KeyError:
        raise _unknown_member(staff_id) from None


@staff_cli.command("revoke")
def staff_revoke(staff_id: str) -> None:
    """Trek het token van een medewerker nu in."""
    from services.common.staff import revoke_token

    if not revoke_token(staff_id):
        raise _unknown_member(staff_id)
    typer.echo(f"token van {staff_id} ingetrokken")


@staff_cli.command("remove")
def staff_remove(staff_id: str) -> None:
    """Verwijder een medewerker die vertrekt (het token vervalt mee)."""
    from services.common.staff import remove_member

    if not remove_member(staff_id):
        raise _unknown_member(staff_id)
    typer.echo(f"{staff_id} verwijderd")


def _unknown_member(staff_id: str) -> typer.Exit:
    """Say there is no such member; the exit (code 2) for the caller to raise."""
    typer.echo(f"onbekende medewerker: {staff_id}", err=True)
    return typer.Exit(2)


@staff_cli.command("list")
def staff_list() -> None:
    """Toon medewerkers, rollen en tot wanneer hun token geldt (nooit het token zelf)."""
    from services.common.staff import load_staff

    for member in load_staff():
        until = member.token_expires_at.isoformat() if member.token_expires_at else "geen token"
        typer.echo(f"{member.id}\t{member.role}\t{until}")


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
