"""The words of the access report: names of recipients, municipalities and data categories,
Dutch dates, and legal bases as a data subject reads them.

Shared by the JSON, HTML and PDF forms, so all three say the same thing.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from services.common.dutch_dates import DUTCH_TIME
from services.common.municipalities import MUNICIPALITY_NAMES

RECIPIENT_NAMES = {
    "riec": "RIEC Oost-Nederland",
    "gemeente_veiligheid": "de veiligheidsmedewerker van de gemeente",
    "veilig_thuis": "Veilig Thuis Twente",
}
CATEGORY_NAMES = {
    "victim.name": "naam",
    "victim.birth_date": "geboortedatum",
    "victim.age": "leeftijd",
    "victim.gender": "geslacht",
    "victim.nationality": "nationaliteit",
    "victim.bsn": "BSN",
    "victim.address": "adres",
    "victim.phone": "telefoonnummer",
    "victim.health_information": "gezondheidsgegevens (bijzonder persoonsgegeven)",
    "victim.pseudonym": "pseudoniem",
    "suspects": "gegevens over verdachten",
    "location": "plaats van uitbuiting",
    "exploitation_forms": "vorm(en) van uitbuiting",
    "municipality": "gemeente",
    "signals.narrative": "beschrijving van de signalen",
    "signals.risk_summary": "samenvatting van de risico's",
    "police_involved": "betrokkenheid van de politie",
    "victim": "gegevens over het slachtoffer",
    "victim.consent": "toestemming van het slachtoffer",
    "location.description": "beschrijving van de plaats van uitbuiting",
    "location.address": "adres van de plaats van uitbuiting",
    "location.business_name": "bedrijfsnaam bij de plaats van uitbuiting",
    "location.kvk_number": "KvK-nummer bij de plaats van uitbuiting",
    "signals": "signalen",
    "signals.acute_danger": "acuut gevaar (ja/nee)",
    "signals.safety_risk": "veiligheidsrisico (ja/nee)",
    "signals.domestic_violence": "huiselijk geweld (ja/nee)",
    "signals.minors_in_household": "minderjarigen in het huishouden (ja/nee)",
    "signals.undermining_indicators": "signalen van ondermijning",
    "case": "gegevens over de casus",
    "case.wgs_designated": "aanwijzing als WGS-casus",
    "reporter": "gegevens over de melder",
    "reporter.type": "soort melder",
    "reporter.organisation": "organisatie van de melder",
    "reporter.partner_id": "partner die meldde",
    "provenance": "herkomst van de gegevens",
    "melding_id": "kenmerk van de melding",
    "received_at": "datum van de melding",
}
MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip
UNCONFIRMED = re.compile(r"\s*\(verify\)", re.IGNORECASE)
"""The policies' marker of an article not yet checked against the statute (LEGAL.md)."""


def category(path: str) -> str:
    return CATEGORY_NAMES.get(path, path)


def recipient(code: str | None, municipality: str | None) -> str:
    """Who received it; the gemeente's veiligheidsmedewerker with the gemeente's name."""
    name = RECIPIENT_NAMES.get(code or "", code or "onbekend")
    if code == "gemeente_veiligheid" and municipality:
        return f"{name} {municipality_name(municipality)}"
    return name


def municipality_name(code: str) -> str:
    return next((name for m, name in MUNICIPALITY_NAMES.items() if m == code), code)


def legal_basis(citation: str) -> tuple[str, bool]:
    """The citation as the data subject reads it, and whether its article is unconfirmed."""
    clean = UNCONFIRMED.sub("", citation)
    return clean, clean != citation


def dutch_moment(recorded_at: str) -> datetime:
    """A ledger time (UTC, `Z`) in Dutch local time."""
    return datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).astimezone(DUTCH_TIME)


def dutch_day(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def dutch_time(moment: datetime) -> str:
    """`2 maart 2026 om 10:30` (the moment is already in Dutch time)."""
    return f"{dutch_day(moment.date())} om {moment:%H:%M}"


def days_in_words(days: int) -> str:
    if days % 365 == 0:
        return f"{days // 365} jaar"
    return f"{days} dagen" if days != 1 else "1 dag"
