"""Following meldingen into the ledger through the audit API, as the demo privacy officer.

Every read of the audit API is itself recorded (an `audit_access` entry), so the follower
does not ask per melding: it pages through all entries recorded since it started, once per
`interval`, with the API's cursor (the last `seq` it saw), and files each entry of a
melding it is tracking under that melding.

Times are the entries' own `recorded_at` (the moment the ledger appended them, on the same
machine's clock as the load generator), not when the follower happened to read them, so the
polling interval does not add to the latencies.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

PAGE = 500
RECIPIENTS = 3
"""Every melding gets one decision per recipient (RIEC, gemeente, Veilig Thuis)."""


@dataclass
class Track:
    """One melding of the benchmark: when it was sent, accepted, decided and released.
    Times are seconds since the epoch (`time.time()` and the ledger's `recorded_at`)."""

    phase: str
    sent: float
    melding_id: str | None = None
    accepted: float | None = None
    status: int | None = None
    recorded: float | None = None
    """When the ledger recorded the melding itself (audit read it from the bus)."""
    decisions: dict[str, tuple[bool, float]] = field(default_factory=dict)
    disclosures: dict[str, float] = field(default_factory=dict)
    releases: dict[str, float] = field(default_factory=dict)

    @property
    def decided(self) -> float | None:
        """When the last of its three decisions was recorded."""
        if len(self.decisions) < RECIPIENTS:
            return None
        return max(t for _, t in self.decisions.values())

    @property
    def allowed(self) -> int:
        return sum(allow for allow, _ in self.decisions.values())

    @property
    def disclosed(self) -> float | None:
        """When the last of its disclosures was recorded (sealed by sharing, not yet
        released); None while one is missing, or when it has none."""
        if self.decided is None or not self.allowed or len(self.disclosures) < self.allowed:
            return None
        return max(self.disclosures.values())

    @property
    def released(self) -> float | None:
        """When the last of its disclosures was released; None while one is not, or when it
        has none (every decision refused). One partner per recipient, as in the demo."""
        if self.disclosed is None or not self.disclosures.keys() <= self.releases.keys():
            return None
        return max(self.releases[d] for d in self.disclosures)

    @property
    def done(self) -> bool:
        """Decided, and every disclosure released (if it has any)."""
        return self.decided is not None and (not self.allowed or self.released is not None)

    @property
    def finished(self) -> float | None:
        return (self.released or self.decided) if self.done else None

    def stage(self) -> str:
        """Where a melding that is not done stopped, for the report: ids and counts only."""
        if self.recorded is None:
            return "melding not recorded"
        if self.decided is None:
            return f"{len(self.decisions)} of {RECIPIENTS} decisions recorded"
        if self.disclosed is None:
            return f"{len(self.disclosures)} of {self.allowed} disclosures recorded"
        return f"{len(self.releases)} of {len(self.disclosures)} disclosures released"

    def add(self, entry: dict[str, Any]) -> None:
        at = datetime.fromisoformat(entry["recorded_at"]).timestamp()
        kind = entry["type"]
        if kind == "melding":
            self.recorded = at
        elif kind == "decision":
            self.decisions[entry["recipient"]] = (bool(entry["allow"]), at)
        elif kind == "disclosure":
            self.disclosures[entry["disclosure_id"]] = at
        elif kind == "release":
            self.releases[entry["disclosure_id"]] = at


class Follower:
    """Pages through the ledger as a privacy officer and files entries under their melding."""

    def __init__(
        self, http: httpx.AsyncClient, audit_url: str, officer_token: str, interval: float
    ) -> None:
        self._http = http
        self._url = audit_url.rstrip("/") + "/v1/audit/entries"
        self._headers = {"Authorization": f"Bearer {officer_token}"}
        self._interval = interval
        self._cursor = -1
        self._tracks: dict[str, Track] = {}
        self._unclaimed: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.reads = 0

    def follow(self, melding_id: str, track: Track) -> None:
        """Track a melding (its entries read before its 202 came back are filed now)."""
        self._tracks[melding_id] = track
        track.melding_id = melding_id
        for entry in self._unclaimed.pop(melding_id, []):
            track.add(entry)

    async def start(self) -> None:
        """Skip what the ledger holds already: begin after the entries recorded until now."""
        since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        await self._read({"since": since})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._read({})

    async def _read(self, query: dict[str, str]) -> None:
        """Page until a page is not full; the cursor stays at the last entry seen."""
        while True:
            response = await self._http.get(
                self._url,
                params={**query, "cursor": self._cursor, "limit": PAGE},
                headers=self._headers,
                timeout=30,
            )
            self.reads += 1
            if response.status_code != 200:
                raise RuntimeError(
                    f"audit-API antwoordde {response.status_code}: {response.text[:300]}"
                )
            entries = response.json()["entries"]
            for entry in entries:
                self._cursor = max(self._cursor, int(entry["seq"]))
                melding_id = entry.get("melding_id")
                if melding_id is None or entry["type"] == "audit_access":
                    continue
                track = self._tracks.get(melding_id)
                if track is not None:
                    track.add(entry)
                else:
                    self._unclaimed[melding_id].append(entry)
            if len(entries) < PAGE:
                return
