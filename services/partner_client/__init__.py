"""The reference client a partner's developer copies (see `client.py`)."""

from services.partner_client.client import Page, PartnerClient, PartnerClientError, client_assertion

__all__ = ["Page", "PartnerClient", "PartnerClientError", "client_assertion"]
