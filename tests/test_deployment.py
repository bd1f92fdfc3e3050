"""docker-compose.yml describes the production shape; it must stay consistent with what the
services read, and the schemas in schemas/ with the contracts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from services.cli import app
from services.common.schemas import documents
from services.common.settings import Settings, reference_table

REPO = Path(__file__).resolve().parents[1]
KMT_IMAGE = "kmt-signal-exchange:latest"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yml").read_text()))


def kmt_services() -> dict[str, Any]:
    return {n: s for n, s in compose()["services"].items() if s.get("image") == KMT_IMAGE}


def test_schemas_directory_is_up_to_date() -> None:
    expected = documents()
    present = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "schemas").glob("*.json")}
    stale = sorted(n for n in expected if present.get(n) != expected[n])
    extra = sorted(set(present) - set(expected))
    assert not stale and not extra, (
        f"schemas/ is verouderd ({stale or extra}): voer `kmt schemas export` uit"
    )


def test_compose_sets_only_variables_the_services_read() -> None:
    known = {f"KMT_{name.upper()}" for name in Settings.model_fields}
    services = kmt_services()
    assert {"intake", "routing", "sharing", "audit"} <= set(services)
    for name, service in services.items():
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name} zet variabelen die geen service leest: {unknown}"


def test_compose_runs_real_kmt_commands() -> None:
    runner = CliRunner()
    for name, service in kmt_services().items():
        result = runner.invoke(app, [*service["command"], "--help"])
        assert result.exit_code == 0, f"{name}: `kmt {' '.join(service['command'])}` bestaat niet"


def test_compose_uses_the_official_images() -> None:
    images = {s.get("image", "").split(":")[0] for s in compose()["services"].values()}
    assert {"apache/kafka", "openpolicyagent/opa", "postgres"} <= images


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="docker compose CLI niet aanwezig; de structuur is hierboven al gecontroleerd",
)
def test_docker_compose_config_accepts_the_file() -> None:
    subprocess.run(
        ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
        check=True,
        env={"KMT_AUDIT_DB_PASSWORD": "test", "PATH": "/usr/bin:/bin"},
    )


def test_compose_images_match_the_versions_the_tests_run() -> None:
    pinned = dict(
        line.split("=", 1)
        for line in (REPO / "provision" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    images = {s["image"].split(":")[0]: s["image"].split(":")[1]
              for s in compose()["services"].values() if "image" in s}  # fmt: skip
    assert images["apache/kafka"] == pinned["KAFKA_VERSION"]
    assert images["openpolicyagent/opa"] == pinned["OPA_VERSION"].removeprefix("v")


def test_readme_settings_table_is_in_step_with_the_settings() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- BEGIN settings table")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- END settings table")]
    assert block.strip() == reference_table(), "README: werk de tabel met instellingen bij"


def test_a_service_environment_leaves_unset_settings_unset() -> None:
    from services.devstack.services import environment

    env = environment(Settings())
    assert "None" not in env.values()  # a `None` would become a file named "None"
    assert "KMT_KEYSTORE_FILE" not in env
