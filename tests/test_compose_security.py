"""The production shape (docker-compose.yml) holds against one compromised container: each
mounts only its own secrets, nothing speaks plaintext to the outside, the broker admits only
SASL_SSL and its authorizer denies by default, and the ledger's writer is not its owner."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from services.bus.principals import SERVICES
from services.cli import app
from tests.test_deployment import compose, kmt_services

KEYS = "/run/kmt/keys"


def targets(service: dict[str, Any]) -> list[str]:
    return [str(v).split(":")[1] for v in service.get("volumes", []) if ":" in str(v)]


def test_each_service_mounts_only_its_own_secrets() -> None:
    services = kmt_services()
    for name in SERVICES:
        keys = sorted(t for t in targets(services[name]) if t.startswith(KEYS))
        assert keys == sorted([f"{KEYS}/{name}", f"{KEYS}/public"]), name
    assert [t for t in targets(services["topics"]) if t.startswith(KEYS)] == [f"{KEYS}/admin"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if source.startswith("./deploy/keys") or target.startswith(KEYS):
                assert str(volume).endswith(":ro"), f"{name}: {volume} is schrijfbaar"
    assert "kmt-keys" not in compose().get("volumes", {}), "een gedeeld sleutelvolume"


def test_only_the_tls_terminator_is_published_and_docs_are_off() -> None:
    for name, service in compose()["services"].items():
        if name != "tls":
            assert "ports" not in service, f"{name} publiceert een poort"
    assert compose()["services"]["tls"]["image"].startswith("caddy:")
    for name, service in kmt_services().items():
        env = service.get("environment", {})
        if name in ("intake", "sharing", "audit"):
            assert env["KMT_API_DOCS"] == "false", name


def test_production_never_fixes_intakes_clock() -> None:
    """KMT_REFERENCE_TIME is for test deployments that replay the scenarios only."""
    for name, service in kmt_services().items():
        assert "KMT_REFERENCE_TIME" not in service.get("environment", {}), name


def test_the_broker_admits_only_sasl_ssl_and_denies_by_default() -> None:
    env = compose()["services"]["kafka"]["environment"]
    assert "PLAINTEXT" not in env["KAFKA_LISTENERS"] + env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert env["KAFKA_LISTENERS"].startswith("SASL_SSL://")
    assert "CONTROLLER://127.0.0.1:" in env["KAFKA_LISTENERS"]
    assert env["KAFKA_LISTENER_NAME_CONTROLLER_SSL_CLIENT_AUTH"] == "required"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    for name, service in kmt_services().items():
        assert service.get("environment", {}).get("KMT_KAFKA_BOOTSTRAP", "kafka:9092") == (
            "kafka:9092"
        ), name


def test_the_ledger_writer_is_not_its_owner_and_only_the_migration_knows_the_owner() -> None:
    services = compose()["services"]
    owner = services["postgres"]["environment"]["POSTGRES_USER"]
    writer_url = services["audit"]["environment"]["KMT_AUDIT_DB_URL"]
    assert f"//{owner}:" not in writer_url
    knows_owner = [n for n, s in kmt_services().items()
                   if "KMT_AUDIT_OWNER_DB_URL" in s.get("environment", {})]  # fmt: skip
    assert knows_owner == ["audit-migrate", "policy-migrate"]


def test_networks_keep_opa_and_postgres_to_their_clients() -> None:
    services = compose()["services"]

    def on(network: str) -> set[str]:
        return {n for n, s in services.items() if network in (s.get("networks") or [])}

    assert on("policy") == {"opa", "routing", "sharing"}  # sharing double-checks decisions
    assert on("ledger") == {
        "postgres", "audit", "audit-migrate", "policy-migrate", "operator-api", "policy-dry-run",
    }  # fmt: skip
    assert on("state") == {
        "state-db", "intake", "routing", "sharing",
        "intake-migrate", "routing-migrate", "sharing-migrate", "dry-run-migrate",
        "policy-dry-run",
    }  # fmt: skip


def test_each_replicated_service_has_its_own_state_role_and_only_migrations_own() -> None:
    """Several instances share their state in PostgreSQL, each service as a role of its own
    (never the owner, never another service's), and only the migrations know the owner."""
    services = compose()["services"]
    owner = services["state-db"]["environment"]["POSTGRES_USER"]
    urls = {}
    for name in ("intake", "routing", "sharing"):
        assert services[name]["deploy"]["replicas"] >= 2, name
        url = services[name]["environment"]["KMT_STATE_DB_URL"]
        assert url == services[f"{name}-migrate"]["environment"]["KMT_STATE_DB_URL"], name
        assert f"//{owner}:" not in url and "@state-db:" in url, name
        urls[name] = url.split("//")[1].split(":")[0]
    assert len(set(urls.values())) == 3  # no two services share a writer role
    assert services["audit"]["deploy"]["replicas"] >= 2
    knows_owner = [n for n, s in kmt_services().items()
                   if "KMT_STATE_OWNER_DB_URL" in s.get("environment", {})]  # fmt: skip
    assert sorted(knows_owner) == [
        "dry-run-migrate", "intake-migrate", "routing-migrate", "sharing-migrate",
    ]  # fmt: skip


def test_the_console_holds_only_its_session_key_and_reaches_no_bus_or_database() -> None:
    """The staff console is not on the event path: it needs no Kafka password, no service's
    key and no database; it runs read-only as the image's non-root user, behind TLS."""
    console = kmt_services()["console"]
    assert console["read_only"] is True and console["cap_drop"] == ["ALL"]
    assert "user" not in console  # the image's USER kmt (uid 10001), never root
    keys = [t for t in targets(console) if t.startswith(KEYS)]
    assert keys == [f"{KEYS}/console"]
    assert all(str(v).endswith(":ro") for v in console["volumes"])
    assert console["networks"] == ["edge"]
    env = console["environment"]
    assert not any(name.startswith(("KMT_KAFKA", "KMT_AUDIT_DB", "KMT_STATE")) for name in env)
    assert env["KMT_CONSOLE_SECURE_COOKIE"] == "true"
    assert "KMT_API_DOCS" not in env or env["KMT_API_DOCS"] == "false"


def hardened(name: str) -> dict[str, Any]:
    """A kmt container that runs as the image's non-root user on a read-only file system,
    without capabilities or new privileges, every secret mounted read-only."""
    service = kmt_services()[name]
    assert "user" not in service, name  # the image's USER kmt (uid 10001), never root
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
    assert service["security_opt"] == ["no-new-privileges:true"], name
    for volume in service["volumes"]:
        if str(volume).startswith("./deploy/"):
            assert str(volume).endswith(":ro"), f"{name}: {volume} is schrijfbaar"
    return service


def test_the_operator_api_holds_only_the_policy_keys_and_an_appending_ledger_role() -> None:
    """The lifecycle's later steps: the policy signing key, its bus login and event key, its
    own ledger role (never audit's writer or the owner) and the versions the bundle server
    hands OPA; no service's key, no checkpoint key, no routing history."""
    services = compose()["services"]
    api = hardened("operator-api")
    assert [t for t in targets(api) if t.startswith(KEYS)] == [f"{KEYS}/policy"]
    assert "policy-versions:/var/lib/kmt/policy" in api["volumes"]  # writes versions
    bundles = services["policy-bundles"]["volumes"]
    assert bundles == ["policy-versions:/var/lib/kmt/policy:ro"]  # what OPA gets
    assert api["networks"] == ["bus", "edge", "ledger"]  # the console reaches it on edge
    console = services["console"]["environment"]["KMT_CONSOLE_OPERATOR_URL"]
    assert console.startswith("http://operator-api:") and "edge" in services["console"]["networks"]
    ledger = api["environment"]["KMT_AUDIT_DB_URL"]
    assert ledger.startswith("postgresql://kmt_policy:")
    assert ledger == services["policy-migrate"]["environment"]["KMT_AUDIT_DB_URL"]
    assert ledger != services["audit"]["environment"]["KMT_AUDIT_DB_URL"]
    assert "--appender" in services["policy-migrate"]["command"]
    assert not any(n.startswith(("KMT_STATE", "KMT_KEYSTORE")) for n in api["environment"])


def test_the_dry_run_runs_as_routing_and_holds_nothing_of_the_policy() -> None:
    """Routing's history key and key store to open the sealed history, with a state role of
    its own that may only read it (`kmt state init-db dry-run`); the lifecycle's appending
    ledger role to record the step; versions read-only; no bus, no policy signing key. A
    tool: only `docker compose run` starts it, and its migration with it."""
    services = compose()["services"]
    dry = hardened("policy-dry-run")
    assert dry["profiles"] == ["tools"] and dry["restart"] == "no"
    assert [t for t in targets(dry) if t.startswith(KEYS)] == [f"{KEYS}/routing"]
    assert "policy-versions:/var/lib/kmt/policy:ro" in dry["volumes"]
    assert sorted(dry["networks"]) == ["ledger", "state"]
    env = dry["environment"]
    migrate = services["dry-run-migrate"]
    assert migrate["command"] == ["state", "init-db", "dry-run"]
    assert migrate["profiles"] == ["tools"] and "dry-run-migrate" in dry["depends_on"]
    assert env["KMT_STATE_DB_URL"] == migrate["environment"]["KMT_STATE_DB_URL"]
    role = env["KMT_STATE_DB_URL"].split("//")[1].split(":")[0]
    assert role not in services["routing"]["environment"]["KMT_STATE_DB_URL"]
    assert env["KMT_KEYSTORE_FILE"] == services["routing"]["environment"]["KMT_KEYSTORE_FILE"]
    assert env["KMT_AUDIT_DB_URL"] == services["operator-api"]["environment"]["KMT_AUDIT_DB_URL"]
    assert not any(n.startswith("KMT_KAFKA") for n in env)
    assert dry["entrypoint"] == ["kmt", "policy", "dry-run"]
    result = CliRunner().invoke(app, [*dry["entrypoint"][1:], "--help"])
    assert result.exit_code == 0 and "--by" in result.output, result.output
