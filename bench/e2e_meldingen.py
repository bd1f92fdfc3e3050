"""Realistic variants of `examples/melding.json` for the end-to-end benchmark.

Every variant gives a birth date (a minor in about one in four), so no decision waits for a
KMT worker (`review:human` is only for an unknown age). The Twentse gemeente, the signals
and the suspects vary, so that all three recipients get decisions, each sometimes allowed:
undermining indicators (RIEC), a safety risk (the gemeente's veiligheidsmedewerker), a
minor, domestic violence or minors in the household (Veilig Thuis), now and then acute
danger. The names and numbers are made up; BSNs pass the elfproef.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from services.common.models import elfproef
from services.common.municipalities import TWENTE

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "melding.json"
FIRST_NAMES = ("Sanne", "Daan", "Fatima", "Ionela", "Piotr", "Lotte", "Milan", "Amira", "Joy")
SURNAMES = ("de Vries", "Jansen", "Bakker", "Popescu", "Nowak", "El Amrani", "Visser", "Smit")
FORMS = ("seksuele_uitbuiting", "criminele_uitbuiting", "arbeidsuitbuiting", "overig")
INDICATORS = ("crimineel_netwerk", "witwassen", "vastgoed", "bedrijfsstructuur")
RELATIONS = ("partner", "werkgever", "vader", "oom", "kennis", "onbekend")
NATIONALITIES = ("NL", "RO", "PL", "BG", "NG", "UA")


def bsn(rng: random.Random) -> str:
    while True:
        candidate = f"{rng.randrange(10_000_000, 100_000_000)}{rng.randrange(10)}"
        if elfproef(candidate):
            return candidate


def birth_date(rng: random.Random, today: date, minor: bool) -> str:
    """A birth date whose age today is 12–17 (minor) or 19–64 (adult), never on the edge."""
    age = rng.randint(12, 16) if minor else rng.randint(19, 63)
    return (today - timedelta(days=round(365.25 * age) + rng.randint(30, 330))).isoformat()


def variants(count: int, seed: int = 1, today: date | None = None) -> list[dict[str, Any]]:
    """`count` meldingen as the demo reporter (a wijkteam) sends them, reproducible by seed."""
    rng = random.Random(seed)
    day = today or date.today()
    base = json.loads(EXAMPLE.read_text())
    return [_variant(base, rng, day, i) for i in range(count)]


def _variant(base: dict[str, Any], rng: random.Random, today: date, i: int) -> dict[str, Any]:
    melding = copy.deepcopy(base)
    municipality = TWENTE[i % len(TWENTE)]
    city = municipality.replace("_", " ").title()
    minor = rng.random() < 0.25
    melding["reporter"] = rng.choice(
        [
            {"type": "zorg_wijkteam", "organisation": "Wijkteam Almelo"},
            {"type": "gemeente", "organisation": "Gemeente Almelo"},
        ]
    )
    melding["municipality"] = municipality
    melding["exploitation_forms"] = rng.sample(FORMS, rng.randint(1, 2))
    victim = melding["victim"]
    victim["name"] = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
    victim["birth_date"] = birth_date(rng, today, minor)
    victim["gender"] = rng.choice(("vrouw", "man", "overig"))
    victim["nationality"] = rng.choice(NATIONALITIES)
    victim["bsn"] = bsn(rng)
    victim["address"]["city"] = city
    victim["address"]["house_number"] = str(rng.randint(1, 250))
    victim["phone"] = f"+316{rng.randrange(10**8):08d}"
    melding["suspects"] = [
        {
            "name": f"{rng.choice('ABCDEFGHJKMPRSTVW')}. {rng.choice(SURNAMES)}",
            "birth_date": birth_date(rng, today, minor=False),
            "role": rng.choice(("dader", "facilitator", "onbekend")),
            "relation_to_victim": rng.choice(RELATIONS),
            "description": "rijdt slachtoffer naar adressen",
        }
        for _ in range(rng.choice((0, 1, 1, 2, 3)))
    ]
    melding["location"]["address"]["city"] = city
    acute = rng.random() < 0.1
    melding["signals"] = {
        "narrative": "Wijkcoach ziet signalen van uitbuiting.",
        "acute_danger": acute,
        "safety_risk": rng.random() < 0.5,
        "risk_summary": "Slachtoffer wordt dagelijks opgehaald." if rng.random() < 0.7 else "",
        "domestic_violence": rng.random() < 0.25,
        "minors_in_household": rng.random() < 0.2,
        "undermining_indicators": rng.sample(INDICATORS, rng.choice((0, 0, 1, 2))),
    }
    return melding
