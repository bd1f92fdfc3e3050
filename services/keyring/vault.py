"""Per-melding data keys, held outside Kafka, so that destroying one erases every copy.

Intake encrypts each melding under a fresh 256-bit data key (a compact JWE, `dir` +
`A256GCM`, whose `kid` names the key) and publishes only that ciphertext. The data key
itself is stored in the key store, wrapped (JWE `ECDH-ES+A256KW`) for each service that may
read meldingen: sharing (to minimise and seal disclosures) and audit (to compute the subject
pseudonyms). Intake holds only their public keys, so it cannot read back what it sealed;
routing holds nothing and decides on the event's non-identifying facts.

Crypto-shredding (`kmt erase`, the retention job) deletes a melding's rows from the key
store: from then on every copy of the ciphertext — on every topic, in every backup, in
sharing's store — is unreadable by anyone.

Keys: `<keys_dir>/<reader>/melding-key.json` (P-256, private) and the readers' public keys
in `<keys_dir>/public/melding-readers.json`. Routing keeps the policy input of each melding
under a data key of the melding too, wrapped under its own secret
(`<keys_dir>/routing/policy-input-key.json`), so erasure destroys that input as well.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey

from services.common.events import MalformedEvent
from services.common.keys import PUBLIC, load_or_create_secret, write_private_json
from services.common.models import Melding
from services.keyring.datakeys import DataKeyStore

Reader = Literal["sharing", "audit"]
READERS: tuple[Reader, ...] = ("sharing", "audit")
READER_KEY_FILE = "melding-key.json"
READERS_PUBLIC_FILE = "melding-readers.json"
INPUT_KEY_FILE = "policy-input-key.json"
_WRAP = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM"}


class MeldingErased(Exception):
    """The melding's data key is gone (erased, or past its retention): it cannot be read."""


class SealBroken(ValueError):
    """The ciphertext is not a melding sealed for this id, or it was tampered with."""


def generate_reader_keys(keys_dir: Path) -> list[str]:
    created, public = [], {}
    for reader in READERS:
        path = keys_dir / reader / READER_KEY_FILE
        if not path.exists():
            write_private_json(path, ECKey.generate_key("P-256").as_dict(private=True))
            created.append(f"{reader}/{READER_KEY_FILE}")
        key = ECKey.import_key(json.loads(path.read_text()))
        public[reader] = key.as_dict(private=False)
    target = keys_dir / PUBLIC / READERS_PUBLIC_FILE
    if not target.exists() or json.loads(target.read_text()) != public:
        write_private_json(target, public)
        created.append(f"{PUBLIC}/{READERS_PUBLIC_FILE}")
    return created


def generate_input_key(keys_dir: Path) -> list[str]:
    """Routing's key that wraps the data keys of its stored policy inputs, if missing."""
    if input_key_file(keys_dir).exists():
        return []
    input_key(keys_dir)
    return [f"routing/{INPUT_KEY_FILE}"]


def input_key_file(keys_dir: Path) -> Path:
    return keys_dir / "routing" / INPUT_KEY_FILE


def input_key(keys_dir: Path) -> bytes:
    """Routing's 256-bit key wrapping the data key of each stored policy input
    (`services.routing.history`); made on first use."""
    return load_or_create_secret(input_key_file(keys_dir), "aes256gcm")


@dataclass
class Sealer:
    """Intake's half: seal a melding for its readers; it cannot open what it sealed."""

    store: DataKeyStore
    readers: dict[str, ECKey]

    @classmethod
    def load(cls, keys_dir: Path, store: DataKeyStore) -> Sealer:
        path = keys_dir / PUBLIC / READERS_PUBLIC_FILE
        if not path.exists():
            raise FileNotFoundError(f"publieke sleutels van de lezers ontbreken ({path})")
        stored = json.loads(path.read_text())
        return cls(store, {r: ECKey.import_key(stored[r]) for r in READERS})

    def seal(self, melding_id: str, plaintext: bytes) -> str:
        """Store a new data key (wrapped per reader), then encrypt under it."""
        data_key = os.urandom(32)
        key_id = f"{melding_id}/{secrets.token_hex(8)}"
        wrapped = {
            reader: jwe.encrypt_compact({**_WRAP, "kid": key_id}, data_key, public)
            for reader, public in self.readers.items()
        }
        self.store.create(key_id, melding_id, wrapped)
        header = {"alg": "dir", "enc": "A256GCM", "kid": key_id}
        return jwe.encrypt_compact(header, plaintext, OctKey.import_key(data_key))


@dataclass
class Opener:
    """A reader's half: unwrap the melding's data key from the key store and decrypt."""

    reader: Reader
    store: DataKeyStore
    private: ECKey

    @classmethod
    def load(cls, keys_dir: Path, reader: Reader, store: DataKeyStore) -> Opener:
        path = keys_dir / reader / READER_KEY_FILE
        if not path.exists():
            raise FileNotFoundError(f"meldingsleutel van {reader} ontbreekt ({path})")
        return cls(reader, store, ECKey.import_key(json.loads(path.read_text())))

    def open(self, melding_id: str, sealed: str) -> bytes:
        """The plaintext; `MeldingErased` if its key is gone, `SealBroken` if it is not a
        melding sealed for `melding_id`."""
        data_key = self._data_key(melding_id, sealed)
        try:
            opened = jwe.decrypt_compact(sealed, data_key)
        except (JoseError, ValueError):
            raise SealBroken("ontsleutelen mislukt") from None
        return opened.plaintext or b""

    def seal_alongside(self, melding_id: str, sealed: str, plaintext: bytes) -> str:
        """Encrypt `plaintext` under the data key of `sealed` (the melding, or anything sealed
        alongside it): what a reader keeps about a melding, such as a reviewer's reason, is
        then erased with the melding (`MeldingErased` if it already was), and `open` reads it."""
        header = {"alg": "dir", "enc": "A256GCM", "kid": _key_id(sealed)}
        return jwe.encrypt_compact(header, plaintext, self._data_key(melding_id, sealed))

    def _data_key(self, melding_id: str, sealed: str) -> OctKey:
        key_id = _key_id(sealed)
        if key_id.split("/", 1)[0] != melding_id:
            raise SealBroken("versleuteld voor een andere melding")
        wrapped = self.store.wrapped(key_id, melding_id, self.reader)
        if wrapped is None:
            raise MeldingErased(f"sleutel van melding {melding_id} bestaat niet meer")
        try:
            return OctKey.import_key(jwe.decrypt_compact(wrapped, self.private).plaintext or b"")
        except (JoseError, ValueError):
            raise SealBroken("ontsleutelen mislukt") from None

    def melding(self, melding_id: str, sealed: str) -> Melding:
        """The opened melding, as a consumer needs it: `MeldingErased` if its key is gone,
        `MalformedEvent` (a dead letter) if it is not a valid melding sealed for this id."""
        try:
            return Melding.model_validate_json(self.open(melding_id, sealed))
        except (SealBroken, ValueError):
            raise MalformedEvent(
                "versleutelde melding onleesbaar of niet van deze melding"
            ) from None


def _key_id(sealed: str) -> str:
    """The data key id (`kid`) in a compact JWE's protected header."""
    try:
        protected = sealed.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
        return str(header["kid"])
    except (KeyError, TypeError, ValueError):
        raise SealBroken("geen versleutelde melding (JWE)") from None
