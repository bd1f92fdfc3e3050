"""`kmt audit ...`: run the service, verify the trail, export and archive."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError

from services.audit.backends import open_ledger
from services.audit.export import export_lines
from services.audit.keys import subject_key
from services.audit.ledger import PRUNE_NEEDS_OWNER, timestamp
from services.audit.postgres_store import init_schema
from services.audit.report.content import Controller, access_draft, access_report
from services.audit.report.document import document
from services.audit.report.html import render_html
from services.audit.report.pdf import render_pdf
from services.audit.report.query import SubjectQuery
from services.audit.verify import describe as describe_verification
from services.audit.verify import verify_export
from services.common.events import describe
from services.common.postgres_roles import WriterRoleRefused, is_postgres, role_of
from services.common.settings import get_settings
from services.observability import register
from services.observability.ldv_export import derive, send

cli = typer.Typer(help="De audittrail: service, controle, export en archivering.")

OWNER_URL_ENV = "KMT_AUDIT_OWNER_DB_URL"
"""The ledger owner's URL, for `init-db` and `archive` only: never set it for a service."""
OWNER_HINT = f"geef de URL van de eigenaar met --owner-url of {OWNER_URL_ENV}"


@cli.command()
def serve() -> None:
    """Start de auditservice (consumer en API) tot Ctrl-C."""
    from services.audit.main import run

    run(get_settings())


@cli.command()
def verify() -> None:
    """Controleer de hele trail: hashes, keten, Merkle-roots en handtekeningen."""
    ledger = open_ledger(get_settings())
    try:
        result = ledger.verify()
    finally:
        ledger.close()
    typer.echo(describe_verification(result))
    raise typer.Exit(0 if result.ok else 1)


@cli.command("verify-export")
def verify_export_command(
    export: Path, key: Annotated[str, typer.Option(help="verifier key (kmt audit public-key)")]
) -> None:
    """Controleer een export met alleen de publieke sleutel."""
    with export.open(encoding="utf-8") as handle:
        result = verify_export(handle, key)
    typer.echo(describe_verification(result))
    raise typer.Exit(0 if result.ok else 1)


@cli.command("public-key")
def public_key() -> None:
    """Toon de verifier key waarmee iedereen de checkpoints kan controleren."""
    ledger = open_ledger(get_settings())
    typer.echo(ledger.verifier_key)
    ledger.close()


@cli.command()
def checkpoint() -> None:
    """Onderteken nu een checkpoint over alle entries."""
    ledger = open_ledger(get_settings())
    try:
        signed = ledger.checkpoint()
    finally:
        ledger.close()
    typer.echo(signed.note if signed else "geen nieuwe entries sinds de laatste checkpoint")


def _utc(value: datetime | None) -> str | None:
    """A moment typed on the command line, read as UTC."""
    return timestamp(value.replace(tzinfo=UTC)) if value else None


@cli.command()
def export(
    output: Path,
    since: Annotated[datetime | None, typer.Option(help="vanaf (UTC)")] = None,
    until: Annotated[datetime | None, typer.Option(help="tot (UTC)")] = None,
) -> None:
    """Exporteer een periode als JSON lines, met checkpoints, offline te controleren."""
    ledger = open_ledger(get_settings())
    try:
        with output.open("w", encoding="utf-8") as handle:
            for line in export_lines(ledger, since=_utc(since), until=_utc(until)):
                handle.write(line + "\n")
    finally:
        ledger.close()
    typer.echo(f"geëxporteerd naar {output}")


@cli.command("ldv-export")
def ldv_export(
    output: Path,
    since: Annotated[datetime | None, typer.Option(help="vanaf (UTC)")] = None,
    until: Annotated[datetime | None, typer.Option(help="tot (UTC)")] = None,
    otlp: Annotated[
        str | None,
        typer.Option(help="OTLP/HTTP-adres van het Logboek (standaard KMT_LDV_OTLP_ENDPOINT)"),
    ] = None,
) -> None:
    """Leid de verwerkingslog (Logboek Dataverwerkingen) van een periode af uit het grootboek:
    JSON lines, en naar het Logboek over OTLP als dat is ingesteld."""
    settings = get_settings()
    ledger = open_ledger(settings)
    try:
        found = derive(ledger, register.load(), _utc(since), _utc(until))
    finally:
        ledger.close()
    with output.open("w", encoding="utf-8") as handle:
        for record in found:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    typer.echo(f"{len(found)} LDV-records naar {output}")
    endpoint = otlp or settings.ldv_otlp_endpoint
    if endpoint:
        send(found, endpoint)
        typer.echo(f"{len(found)} LDV-records door het Logboek bevestigd")


@cli.command()
def archive(
    directory: Path,
    older_than_days: Annotated[
        int | None,
        typer.Option(min=0, help="bewaartermijn in dagen (standaard KMT_AUDIT_RETENTION_DAYS)"),
    ] = None,
    owner_url: Annotated[
        str | None,
        typer.Option(
            envvar=OWNER_URL_ENV,
            show_envvar=True,
            help="PostgreSQL: URL van de eigenaar van de ledgertabellen (alleen die mag opschonen)",
        ),
    ] = None,
) -> None:
    """Archiveer entries ouder dan de bewaartermijn (export met bewijzen) en schoon ze op.

    Opschonen gebeurt tot de laatste checkpoint vóór de grens, zodat de rest controleerbaar
    blijft, en wordt vastgelegd in een opschoonrecord dat met de checkpointsleutel is
    ondertekend. In PostgreSQL is hiervoor de URL van de eigenaar nodig (de schrijfrol mag
    niet verwijderen).
    """
    settings = get_settings()
    if owner_url:
        settings = settings.model_copy(update={"audit_db_url": owner_url})
    ledger = open_ledger(settings)
    try:
        if not ledger.store.may_prune():
            typer.echo(f"{PRUNE_NEEDS_OWNER}: {OWNER_HINT}", err=True)
            raise typer.Exit(2)
        days = settings.audit_retention_days if older_than_days is None else older_than_days
        limit = timestamp(datetime.now(UTC) - timedelta(days=days))
        span = ledger.seq_range(None, limit)
        candidates = [c.size for c in ledger.checkpoints() if span and c.size <= span[1] + 1]
        anchor = ledger.anchor()
        if not candidates or (anchor and candidates[-1] <= anchor.min_seq):
            typer.echo("niets te archiveren")
            return
        min_seq = candidates[-1]
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"audit-archive-{min_seq}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for line in export_lines(ledger, until=limit):
                handle.write(line + "\n")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        check = verify_export(path.read_text(encoding="utf-8").splitlines(), ledger.verifier_key)
        if not check.ok:
            typer.echo(f"archief {path} is niet controleerbaar; er is niets opgeschoond")
            raise typer.Exit(1)
        ledger.prune(min_seq, digest)
    finally:
        ledger.close()
    typer.echo(
        f"gearchiveerd in {path} (sha256 {digest}); live tabellen beginnen bij seq {min_seq}"
    )


@cli.command("init-db")
def init_db(
    owner_url: Annotated[
        str | None,
        typer.Argument(
            envvar=OWNER_URL_ENV,
            show_envvar=True,
            show_default=False,
            help="postgresql://-URL van de eigenaar, die het schema aanmaakt en bijwerkt",
        ),
    ] = None,
    writer_url: Annotated[
        str | None,
        typer.Option(
            envvar="KMT_AUDIT_DB_URL",
            show_envvar=True,
            help="URL waarmee de services verbinden: de schrijfrol en haar wachtwoord",
        ),
    ] = None,
    writer_role: Annotated[
        str | None,
        typer.Option(help="naam van de schrijfrol, als die niet uit --writer-url komt"),
    ] = None,
    appender: Annotated[
        bool,
        typer.Option(
            "--appender",
            help="de rol is die van het beleidsbeheer: alleen entries lezen en toevoegen",
        ),
    ] = False,
) -> None:
    """Maak of werk de ledger-tabellen en triggers bij in PostgreSQL, als eigenaar, en maak
    de schrijfrol (indien nodig) met alleen lees- en toevoegrechten.

    Voor een eenmalige migratiestap, vóór de auditservice start; daarna opnieuw na elke
    upgrade. Het wachtwoord van de schrijfrol komt uit --writer-url als die dezelfde rol noemt.
    Met --appender krijgt de rol minder: het beleidsbeheer (de operator-API, de proefrun) legt
    er zijn stappen mee vast, zonder checkpoints, tellers of gegevens van meldingen.
    """
    if not owner_url:
        typer.echo(f"geen eigenaar opgegeven: {OWNER_HINT}", err=True)
        raise typer.Exit(2)
    postgres = writer_url and is_postgres(writer_url)
    user, password = role_of(writer_url) if writer_url and postgres else (None, None)
    role = writer_role or user
    try:
        init_schema(
            owner_url, role, writer_password=password if role == user else None, appender=appender
        )
    except WriterRoleRefused as exc:
        typer.echo(f"{exc}; er is niets veranderd", err=True)
        raise typer.Exit(1) from None
    if not role:
        typer.echo("ledger-schema bijgewerkt (geen schrijfrol opgegeven)")
    elif appender:
        typer.echo(f"ledger-schema bijgewerkt; rol {role} mag alleen entries lezen en toevoegen")
    else:
        typer.echo(
            f"ledger-schema bijgewerkt; schrijfrol {role} mag alleen lezen en toevoegen"
            " (en de tellers van de Cijfers ophogen)"
        )


@cli.command()
def report(
    output: Annotated[
        Path, typer.Argument(help="bestand voor het overzicht (.html, .pdf of .json)")
    ],
    by: Annotated[str, typer.Option("--by", help="wie het overzicht opvraagt (medewerker-id)")],
    kenmerk: Annotated[
        str | None, typer.Option(help="kenmerk van het verzoek in uw eigen administratie")
    ] = None,
) -> None:
    """Maak het inzageoverzicht (AVG art. 15) voor een slachtoffer of verdachte.

    De BSN, of naam en geboortedatum, worden gevraagd (niet als argument, zodat ze niet in de
    shellgeschiedenis komen) en nergens opgeslagen. Het verzoek wordt vastgelegd in de trail.
    Wat u vóór verzenden moet nagaan, staat op het scherm, niet in het overzicht.
    """
    form = _report_form(output)
    subject = _ask_subject(kenmerk)
    settings = get_settings()
    found = subject.pseudonyms(subject_key(settings.keys_dir))
    draft = access_draft(f"staff:{by}", found)
    ledger = open_ledger(settings)
    try:
        ledger.append(draft)
        made = access_report(
            ledger,
            found,
            reference=draft.event_id,
            kenmerk=subject.kenmerk,
            controller=Controller.of(settings),
        )
    finally:
        ledger.close()
    if form == "json":
        output.write_text(json.dumps(made.as_json(), ensure_ascii=False, indent=2) + "\n")
    elif form == "pdf":
        output.write_bytes(render_pdf(document(made)))
    else:
        output.write_text(render_html(document(made)), encoding="utf-8")
    for _, note in made.officer_notes:
        typer.echo(f"let op: {note}", err=True)
    typer.echo(f"overzicht {made.reference} geschreven naar {output}")


def _report_form(output: Path) -> Literal["html", "pdf", "json"]:
    suffix = output.suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix == ".pdf":
        return "pdf"
    if suffix == ".json":
        return "json"
    typer.echo("kies een bestandsnaam op .html, .pdf of .json", err=True)
    raise typer.Exit(2)


def _ask_subject(kenmerk: str | None) -> SubjectQuery:
    bsn = typer.prompt("BSN (leeg voor naam en geboortedatum)", default="", hide_input=True)
    name = birth_date = None
    if not bsn:
        name = typer.prompt("naam", hide_input=True)
        typed = typer.prompt("geboortedatum (JJJJ-MM-DD)", hide_input=True)
        try:
            birth_date = date.fromisoformat(typed)
        except ValueError:
            typer.echo("geboortedatum ongeldig; schrijf JJJJ-MM-DD", err=True)
            raise typer.Exit(2) from None
    try:
        return SubjectQuery(bsn=bsn or None, name=name, birth_date=birth_date, kenmerk=kenmerk)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{e['path']}: {e['message']}" if e["path"] != "(body)" else e["message"]
            for e in describe(exc)
        )
        typer.echo(f"verzoek ongeldig: {reasons}", err=True)
        raise typer.Exit(2) from None
