"""The reference client a partner's developer copies (see `client.py` and `trail.py`)."""

from services.partner_client.client import Page, PartnerClient, PartnerClientError, client_assertion
from services.partner_client.trail import Inclusion, TrailChecker

__all__ = [
    "Inclusion",
    "Page",
    "PartnerClient",
    "PartnerClientError",
    "TrailChecker",
    "client_assertion",
]
