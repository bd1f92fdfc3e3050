"""What the audit API's public proofs answer, as models: they document the answers in the
OpenAPI document (so a partner can generate a client that checks its receipt), and the
contract test holds the answers to them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SignedCheckpoint(BaseModel):
    """Een ondertekend checkpoint van het grootboek (een signed note, zoals transparency logs)."""

    size: int = Field(description="Aantal entries dat het checkpoint dekt.")
    root_hash: str = Field(description="Merkle-root over die entries (SHA-256, base64).")
    note: str = Field(description="De ondertekende note zelf; controleer hem met /public-key.")


class ConsistencyProof(BaseModel):
    """Bewijs dat het grotere checkpoint het kleinere ongewijzigd voortzet."""

    old: SignedCheckpoint
    new: SignedCheckpoint
    proof: list[str] = Field(description="De hashes van het bewijs (RFC 9162), base64.")


class InclusionProof(BaseModel):
    """Bewijs dat een entry in een ondertekend checkpoint staat."""

    seq: int
    entry_hash: str
    leaf_index: int
    checkpoint: SignedCheckpoint
    proof: list[str] = Field(description="De hashes van het bewijs (RFC 9162), base64.")
