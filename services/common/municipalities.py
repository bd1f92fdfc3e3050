"""The municipalities a melding can concern: the 14 Twentse gemeenten, and how people write
their names."""

from __future__ import annotations

from typing import Literal, get_args

Municipality = Literal[
    "almelo",
    "borne",
    "dinkelland",
    "enschede",
    "haaksbergen",
    "hellendoorn",
    "hengelo",
    "hof_van_twente",
    "losser",
    "oldenzaal",
    "rijssen_holten",
    "tubbergen",
    "twenterand",
    "wierden",
    "buiten_twente",
    "onbekend",
]
TWENTE: tuple[Municipality, ...] = tuple(
    m for m in get_args(Municipality) if m not in ("buiten_twente", "onbekend")
)
"""The 14 Twentse gemeenten."""
MUNICIPALITY_NAMES: dict[Municipality, str] = {
    "almelo": "Almelo",
    "borne": "Borne",
    "dinkelland": "Dinkelland",
    "enschede": "Enschede",
    "haaksbergen": "Haaksbergen",
    "hellendoorn": "Hellendoorn",
    "hengelo": "Hengelo",
    "hof_van_twente": "Hof van Twente",
    "losser": "Losser",
    "oldenzaal": "Oldenzaal",
    "rijssen_holten": "Rijssen-Holten",
    "tubbergen": "Tubbergen",
    "twenterand": "Twenterand",
    "wierden": "Wierden",
    "buiten_twente": "buiten Twente",
    "onbekend": "onbekend",
}
"""How people write each municipality; the 14 as `municipalities` in
policies/kmt/config/data.json (a test keeps them equal)."""
