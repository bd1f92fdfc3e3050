"""`kmt policy …`: operators' tools for the sharing policies' versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.common.settings import get_settings
from services.policy.bundle_signing import BundleSigningFailed
from services.policy.candidate import CandidateRefused
from services.policy.engine import POLICIES
from services.policy.versions import VersionError, VersionStore

cli = typer.Typer(no_args_is_help=True, help="Het deelbeleid: ondertekende beleidsversies.")
DEFAULT_BUNDLE_PORT = 8182


@cli.command("build")
def build(
    directory: Annotated[
        Path, typer.Argument(help="map met het beleid (Rego en data.json)", show_default=True)
    ] = POLICIES,
    message: Annotated[str, typer.Option("--message", "-m", help="waarom deze versie")] = "",
    author: Annotated[str, typer.Option(help="wie de versie bouwt")] = "",
    initial: Annotated[
        bool,
        typer.Option(
            "--initial",
            help="maak de versie actief als er nog geen actieve is (eerste installatie)",
        ),
    ] = False,
) -> None:
    """Controleer het beleid in DIRECTORY (compileert, opa test, besluitcontract op de
    voorbeeldmeldingen) en bewaar het als ondertekende, onveranderlijke beleidsversie."""
    store = VersionStore.of(get_settings())
    try:
        known = {v.id for v in store.list()}
        version = store.build(directory, author, message)
    except (VersionError, CandidateRefused, BundleSigningFailed) as exc:
        typer.echo(f"geweigerd: {exc}", err=True)
        raise typer.Exit(2) from None
    if version.id in known:
        typer.echo(f"bestaat al (onveranderd, van {version.author}): {version.id}")
    else:
        typer.echo(f"gebouwd: {version.id}")
    typer.echo(f"  bundel {version.bundle} (sha256 {version.bundle_sha256})")
    if initial and store.set_active(version.id, only_if_none=True):
        typer.echo(f"actief: {version.id} (eerste versie)")


@cli.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="poort van de bundelserver")] = DEFAULT_BUNDLE_PORT,
) -> None:
    """Geef OPA de actieve beleidsversie (GET /bundles/kmt.tar.gz); OPA controleert de
    handtekening zelf."""
    from services.policy.bundle_server import BundleServer

    settings = get_settings()
    server = BundleServer(VersionStore.of(settings), (settings.bind_host, port))
    typer.echo(f"bundelserver op {server.url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
