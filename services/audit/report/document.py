"""The access report as a document for the data subject: the text AVG art. 15 requires, in
sections, and the table of disclosures. The HTML and the PDF render exactly this.

Nothing here is for the officer only: no rule ids, no `(verify)` markers, no notes.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.audit.report import wording
from services.audit.report.content import AccessReport

TITLE = "Inzage in uw persoonsgegevens (AVG artikel 15)"
COLUMNS = (
    "Wanneer (Nederlandse tijd)",
    "Aan wie",
    "Welke gegevens",
    "Doel",
    "Grondslag",
    "Bewaartermijn bij de ontvanger",
)
DEFAULT_CONTACT = "de functionaris gegevensbescherming van het Kenniscentrum Mensenhandel Twente"
ROLE_WORDS = {"slachtoffer": "(mogelijk) slachtoffer", "verdachte": "verdachte"}


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]
    table: tuple[tuple[str, ...], ...] = ()
    """Rows under `COLUMNS`, for the section that has them."""


@dataclass(frozen=True)
class Document:
    title: str
    facts: tuple[tuple[str, str], ...]
    """Date and references, as (label, value)."""
    sections: tuple[Section, ...]


def document(report: AccessReport) -> Document:
    controller = report.controller
    contact = controller.contact.strip() or DEFAULT_CONTACT
    facts = [("Datum", wording.dutch_day(report.day))]
    if report.kenmerk:
        facts.append(("Kenmerk van uw verzoek", report.kenmerk))
    facts.append(("Registratienummer", report.reference))
    return Document(
        title=TITLE,
        facts=tuple(facts),
        sections=(
            Section(
                "Wie verwerkt uw gegevens",
                (
                    f"Verwerkingsverantwoordelijke: {controller.name}.",
                    f"Contact over dit overzicht en over uw rechten: {contact}.",
                ),
            ),
            Section("Welke gegevens wij hebben verstrekt", _provided(report), _rows(report)),
            Section("Doelen", _purposes(report)),
            Section("Inzage door medewerkers van het Kenniscentrum", _consulted(report)),
            Section("Ontvangers", _recipients(report)),
            Section(
                "Bewaartermijn",
                (
                    f"Het Kenniscentrum bewaart een melding {report.kmt_retention} na "
                    "ontvangst, of langer zolang een ontvanger de gegevens uit de melding "
                    "mag bewaren. Daarna worden de gegevens onleesbaar gemaakt.",
                    "Hoe lang elke ontvanger de gegevens mag bewaren, staat in de tabel.",
                ),
            ),
            Section(
                "Herkomst van de gegevens",
                (
                    "De gegevens komen uit een melding bij het Kenniscentrum, gedaan door een "
                    "partner in de meldroute (zoals een gemeente, een zorg- of wijkteam, de "
                    "politie of een hulpverlener) of door de betrokkene zelf.",
                ),
            ),
            Section(
                "Uw rechten",
                (
                    "U hebt het recht om onjuiste gegevens te laten verbeteren (rectificatie, "
                    "AVG art. 16), om uw gegevens te laten wissen (AVG art. 17), om de "
                    "verwerking te laten beperken (beperking, AVG art. 18) en om bezwaar te "
                    "maken tegen de verwerking (AVG art. 21).",
                    f"Een verzoek daarvoor richt u aan {contact}.",
                    "U hebt ook het recht een klacht in te dienen bij de Autoriteit "
                    "Persoonsgegevens (autoriteitpersoonsgegevens.nl).",
                ),
            ),
        ),
    )


def _provided(report: AccessReport) -> tuple[str, ...]:
    if not report.meldingen:
        return ("Het Kenniscentrum heeft geen meldingen over u geregistreerd.",)
    roles = " en als ".join(ROLE_WORDS[r] for r in report.roles)
    count = "één melding" if report.meldingen == 1 else f"{report.meldingen} meldingen"
    found = f"U komt voor in {count} bij het Kenniscentrum, als {roles}."
    if not report.provided:
        return (found, "Er zijn geen gegevens over u aan anderen verstrekt.")
    return (
        found,
        "Hieronder staat per verstrekking wanneer, aan wie, welke soorten gegevens over u, met "
        "welk doel en op welke grondslag, en hoe lang de ontvanger ze mag bewaren. Het "
        "overzicht noemt de soorten gegevens, niet de gegevens zelf.",
    )


def _rows(report: AccessReport) -> tuple[tuple[str, ...], ...]:
    return tuple(
        (
            wording.dutch_time(p.moment),
            p.recipient_name,
            ", ".join(wording.category(c) for c in p.categories) or "geen gegevens over u",
            p.purpose,
            "; ".join(p.legal_basis),
            p.retention or "niet vastgelegd",
        )
        for p in report.provided
    )


def _purposes(report: AccessReport) -> tuple[str, ...]:
    general = (
        "Het Kenniscentrum verwerkt meldingen over (vermoedelijke) mensenhandel om "
        "slachtoffers te helpen en te beschermen, en om de juiste partners in de meldroute te "
        "informeren."
    )
    if not report.purposes:
        return (general,)
    return (general, f"Uw gegevens zijn verstrekt voor: {'; '.join(report.purposes)}.")


def _recipients(report: AccessReport) -> tuple[str, ...]:
    if not report.recipients:
        return ("Uw gegevens zijn aan niemand verstrekt.",)
    return (f"Uw gegevens zijn verstrekt aan: {'; '.join(report.recipients)}.",)


def _consulted(report: AccessReport) -> tuple[str, ...]:
    if not report.consulted:
        return ("Er is niet vastgelegd dat medewerkers van het Kenniscentrum gegevens over u "
                "hebben ingezien.",)  # fmt: skip
    by_purpose: dict[str, dict[str, int]] = {}  # reads in the same minute: counted
    for c in report.consulted:
        minutes = by_purpose.setdefault(c.purpose, {})
        minute = wording.dutch_time(c.moment)
        minutes[minute] = minutes.get(minute, 0) + 1
    return (
        "Medewerkers van het Kenniscentrum hebben gegevens over u ingezien, op de momenten "
        "hieronder. Bij het beoordelen van een verstrekking zagen zij welke soorten gegevens "
        "aan wie zouden gaan, niet de gegevens zelf.",
        *(
            f"Om te {purpose}: {'; '.join(_times(minutes))}."
            for purpose, minutes in by_purpose.items()
        ),
    )


def _times(minutes: dict[str, int]) -> list[str]:
    return [m if n == 1 else f"{m} ({n} keer)" for m, n in minutes.items()]
