"""Configuration: one place, read from `KMT_*` environment variables.

Every service reads the same `Settings`; `docker-compose.yml` may only set variables named here
(a test checks that).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AwareDatetime, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KMT_", extra="ignore", use_attribute_docstrings=True
    )

    kafka_bootstrap: str = "localhost:9092"
    """Kafka bootstrap servers, `host:port[,host:port]`; always SASL_SSL (SCRAM-SHA-512)."""
    kafka_ca_file: Path = Path(".cache/data/devstack/kafka/tls/ca.pem")
    """CA certificate (PEM) that signed the broker's TLS certificate; `kmt up` makes a local
    one, a deployment supplies its own. Each principal's password is the file
    `<keys_dir>/<principal>/kafka.password`."""
    topic_prefix: str = ""
    """Prefix for every topic and consumer group (tests isolate themselves with it)."""
    opa_url: str = "http://localhost:8181"
    """OPA server that routing asks for decisions, and sharing asks once more before it
    discloses."""
    data_dir: Path = Path(".cache/data")
    """Where the local SQLite stores live (intake idempotency keys, sharing outbox, ledger)."""
    state_db_url: str = ""
    """Intake's and sharing's own state (Idempotency-Keys, sharing's outbox, used client
    assertions): empty for SQLite in `data_dir` (one instance per service), or a
    `postgresql://` URL of the service's writer role, shared by all its instances."""
    state_owner_db_url: str = ""
    """The state database owner's `postgresql://` URL, for `kmt state init-db` only; never
    set it for a service."""
    audit_db_url: str = ""
    """Ledger database: empty for SQLite in `data_dir`, or a `postgresql://` URL of the
    services' writer role (INSERT and SELECT only)."""
    audit_owner_db_url: str = ""
    """The ledger owner's `postgresql://` URL, for `kmt audit init-db` and `archive` only;
    never set it for a service."""
    keys_dir: Path = Path(".cache/keys")
    """KMT's private keys (signing, pseudonym and audit secrets); never committed."""
    partners_file: Path = Path(".cache/partners.json")
    """The partner registry."""
    staff_file: Path = Path(".cache/staff.json")
    """The staff registry: privacy officers, operators and KMT workers (token hashes only)."""
    staff_token_ttl_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    """How long a staff bearer token lives: one working shift by default. `kmt staff token ID`
    gives a new one, `kmt staff revoke ID` ends it at once."""
    intake_port: int = 8001
    """Port of intake (`POST /v1/meldingen`, `/oauth/token`)."""
    sharing_port: int = 8002
    """Port of sharing (the partner API, the review queue, `/.well-known/jwks.json`)."""
    audit_port: int = 8003
    """Port of audit (the privacy-officer API, proofs and checkpoints)."""
    console_port: int = 8004
    """Port of the web console for privacy officers, KMT workers and operators."""
    console_audit_url: str = ""
    """Where the console reaches audit's staff API; empty: `http://127.0.0.1:<audit_port>`."""
    console_sharing_url: str = ""
    """Where the console reaches sharing's review queue; empty:
    `http://127.0.0.1:<sharing_port>`."""
    console_operator_url: str = "http://127.0.0.1:8183"
    """Where the console reaches the operator API (`kmt policy operator-api`)."""
    console_idle_minutes: int = Field(default=15, ge=1, le=8 * 60)
    """A console session ends after this many minutes without a request (and always when the
    staff token it holds ends)."""
    console_assets_dir: Path = Path(".cache/console/node_modules")
    """The NL Design System and htmx files the console serves, as `npm ci` installed them from
    `services/console/package-lock.json` (provision/provision.sh does)."""
    console_secure_cookie: bool = False
    """Mark the console's session cookie `Secure`: set it when the console is behind TLS."""
    console_oidc_issuer: str = ""
    """The organisation's OpenID Connect provider (its issuer URL, which serves
    `/.well-known/openid-configuration`): the console then offers login through it. Empty: login
    with a staff token only. The client secret is the file `<keys_dir>/console/oidc.json`."""
    console_oidc_client_id: str = "kmt-console"
    """The console's client id at the OpenID Connect provider."""
    console_oidc_claim: str = "preferred_username"
    """The ID token's claim that names the staff member (`kmt staff add ID ROLE`); the role is
    the registry's, never the provider's."""
    intake_public_url: str = ""
    """Intake's address as partners reach it, e.g. `https://api.kmt.example:8441`. A client
    assertion for intake must name `<this>/oauth/token` or `urn:kmt:intake` as `aud`, whatever
    `Host` the request carries. Empty: `http://127.0.0.1:<intake_port>`."""
    sharing_public_url: str = ""
    """Sharing's address as partners reach it; its token endpoint accepts `<this>/oauth/token`
    or `urn:kmt:sharing` as `aud`. Empty: `http://127.0.0.1:<sharing_port>`."""
    reference_time: AwareDatetime | None = None
    """Test deployments only: intake stamps every melding with this moment (ISO 8601, e.g.
    `2026-03-02T09:30:00Z`) instead of the clock, so the worked scenarios decide as on their
    date (`kmt demo replay`). Never set in production; partners can never set `received_at`."""
    api_docs: bool = True
    """Serve `/docs` and `/openapi.json`; off in the production shape."""
    keystore_file: Path | None = None
    """The key store of the per-melding data keys (SQLite); default `data_dir/keystore.db`.
    Intake, routing, sharing and audit share it; deleting a melding's rows erases the melding
    (routing's stored policy input of it too)."""
    bind_host: str = "127.0.0.1"
    """Address the HTTP services listen on (`0.0.0.0` in a container)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Addresses or networks (comma-separated; `*` for any) of the TLS terminator in front of
    the HTTP services: from these, `X-Forwarded-For` names the client, whom rate limits count."""
    public_rate_per_minute: int = Field(default=120, ge=1, le=1_000_000)
    """Requests a minute one client address (IPv6: its /64) may make to what anyone may call
    without a token (audit's proofs, checkpoints and public key); more gets 429 with
    `Retry-After`. Staff with a valid token are not limited."""
    public_rate_burst: int = Field(default=60, ge=1, le=1_000_000)
    """How many of those requests a client may make at once before the per-minute rate holds."""
    max_body_bytes: int = 256 * 1024
    """Largest melding body intake accepts; larger gets 413."""
    idempotency_retention_hours: int = 24 * 7
    """How long intake keeps an `Idempotency-Key` (the melding id and a keyed hash of the
    request, never the melding): a retry within it gets the same melding, after it the record
    is purged and the key may be used again."""
    retry_max_seconds: float = 30.0
    """Upper bound of a consumer's backoff while a record fails; no offset is committed
    meanwhile. While a dependency is unreachable (OPA, the broker, the ledger database) it
    retries without limit."""
    retry_give_up_seconds: float = 900.0
    """How long a consumer retries a record that fails for another reason (a policy answer
    that breaks the contract, a value nothing can read) before it sets the record aside on
    the dead-letter topic with an `ALARM dead-letter` log line, so the partition goes on."""
    audit_checkpoint_entries: int = 1000
    """The audit service signs a checkpoint after this many entries …"""
    audit_checkpoint_seconds: float = 60.0
    """… or after this many seconds, whichever comes first."""
    melding_retention_days: int = 2 * 365
    """Shortest term a melding stays readable; a decision's `retention:` obligation may make it
    longer. After it, the audit service's retention job destroys the melding's data key."""
    retention_check_seconds: float = 3600.0
    """How often the audit service runs the retention job."""
    audit_retention_days: int = 5 * 365
    """Default term after which `kmt audit archive` archives and prunes ledger entries."""
    routing_port: int = 8005
    """Port of the routing worker's `/metrics`, `/health` and `/ready` (it has no API)."""
    alerts_port: int = 8006
    """Port of the alerts service's `/metrics`, `/health` and `/ready` (it has no API)."""
    ready_retry_seconds: float = Field(default=120.0, gt=0)
    """A record a consumer has retried for longer than this makes its service not ready
    (`/ready` answers 503) until it is handled or set aside."""
    otlp_traces_endpoint: str = ""
    """OTLP/HTTP endpoint the services export their spans to (one trace per melding), e.g.
    `http://127.0.0.1:4318/v1/traces`; empty: spans are made (their trace ids reach the
    ledger) but not exported."""
    ldv_otlp_endpoint: str = ""
    """OTLP/HTTP endpoint of a Logboek Dataverwerkingen: audit sends the LDV records it derives
    from the ledger there (`kmt audit ldv-export --otlp`); empty: only to a file."""
    controller_name: str = (
        "Kenniscentrum Mensenhandel Twente (KMT), Zorg- en Veiligheidshuis Twente, namens de"
        " 14 Twentse gemeenten"
    )
    """The controller as the access report (AVG art. 15) names it to the data subject."""
    controller_contact: str = ""
    """How a data subject reaches the controller's privacy officer (address, e-mail, phone),
    printed in the access report; empty: the report names the functionaris
    gegevensbescherming without details, and tells the officer to fill this in."""
    oncall_webhook_url: str = ""
    """Where the alerts service POSTs an acute-danger alert for KMT's on-call worker (signed,
    Standard Webhooks `v1a`; `kmt alerts webhook-key` prints the key to verify it); empty:
    no webhook."""
    oncall_email_to: str = ""
    """E-mail addresses (comma-separated) of KMT's on-call channel for acute-danger alerts;
    empty: no e-mail."""
    oncall_email_from: str = "kmt-alerts@localhost"
    """The sender of those e-mails."""
    smtp_host: str = "localhost"
    """The SMTP server the alerts service sends through …"""
    smtp_port: int = 25
    """… on this port …"""
    smtp_starttls: bool = False
    """… with STARTTLS (verified against the system's CAs) when true. With `smtp_username`,
    it logs in with the password in `<keys_dir>/alerts/smtp.password`."""
    smtp_username: str = ""
    """SMTP login name; empty: no login."""
    staff_url: str = "https://medewerkers.kmt.example"
    """KMT's staff side, where an alert's link points: `<this>/meldingen/<melding_id>`."""
    webhook_give_up_seconds: float = 24 * 3600.0
    """How long an undelivered alert or partner notification is retried (0.5 s, 1 s, 2 s, …
    at most a minute apart) before it is given up with an `ALARM delivery` log line."""

    def public_url(self, service: str) -> str:
        """Where partners reach `service` (`intake` or `sharing`), without a trailing `/`."""
        configured = {"intake": self.intake_public_url, "sharing": self.sharing_public_url}
        port = {"intake": self.intake_port, "sharing": self.sharing_port}
        return (configured[service] or f"http://127.0.0.1:{port[service]}").rstrip("/")

    def staff_api(self, service: str) -> str:
        """Where the console reaches `service`'s staff API (`audit`, `sharing`, `operator`)."""
        configured = {
            "audit": self.console_audit_url or f"http://127.0.0.1:{self.audit_port}",
            "sharing": self.console_sharing_url or f"http://127.0.0.1:{self.sharing_port}",
            "operator": self.console_operator_url,
        }
        return configured[service].rstrip("/")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def group(self, service: str) -> str:
        return f"{self.topic_prefix}kmt-{service}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reference_table() -> str:
    """The markdown table of every variable, as the README shows it (a test keeps it so)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = " ".join((field.description or "").split())
        rows.append(f"| `KMT_{name.upper()}` | `{field.default}` | {meaning} |")
    return "\n".join(rows)
