"""KMT's key material as one concern: every service's own folder of secrets under
`keys_dir`, and `public/` with what others may know. `generate_all` makes whatever is
missing for a whole deployment (the local stack, a test deployment, a first install)."""

from __future__ import annotations

from pathlib import Path

from services.bus.signing import generate_event_keys
from services.common.keys import generate_keys
from services.common.webhooks import generate_webhook_keys
from services.console.sessions import generate_session_secret
from services.keyring.vault import generate_input_key, generate_reader_keys
from services.policy.bundle_signing import generate_policy_keys


def generate_all(keys_dir: Path) -> list[str]:
    """Create every missing key of every service; never replace one. Returns what it made."""
    return [
        *generate_keys(keys_dir),
        *generate_event_keys(keys_dir),
        *generate_reader_keys(keys_dir),
        *generate_input_key(keys_dir),
        *generate_policy_keys(keys_dir),
        *generate_webhook_keys(keys_dir),
        *generate_session_secret(keys_dir),
    ]
