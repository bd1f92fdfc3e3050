"""Kafka principals: one per service, an admin for topics and ACLs, and the broker itself.

Each principal's SCRAM-SHA-512 password is a file `<keys_dir>/<principal>/kafka.password`
(0600): a service's container mounts only its own folder. The broker learns the passwords
once, when its storage is formatted (KIP-900).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

Service = Literal["intake", "routing", "sharing", "audit", "alerts"]
SERVICES: tuple[Service, ...] = ("intake", "routing", "sharing", "audit", "alerts")
ADMIN = "admin"
"""Creates topics and ACLs (`kmt topics ensure`); a Kafka super user, used by nothing else."""
BROKER = "broker"
"""The broker's own principal on its SASL listener (inter-broker); a super user."""
LIFECYCLE = "policy"
"""The policy lifecycle (`kmt policy activate|rollback`, the operator API): it announces each
switch of the active policy version to every routing instance (`services.policy.switches`).
Not a service on the event path: it reads nothing from the bus."""
PRINCIPALS: tuple[str, ...] = (*SERVICES, LIFECYCLE, ADMIN, BROKER)
PASSWORD_FILE = "kafka.password"


def user_name(principal: str) -> str:
    """The SCRAM user name of a principal: `kmt-<principal>`."""
    return f"kmt-{principal}"


def password_file(keys_dir: Path, principal: str) -> Path:
    return keys_dir / principal / PASSWORD_FILE


class CredentialsMissing(RuntimeError):
    """A principal's Kafka password file is absent."""


def read_password(keys_dir: Path, principal: str) -> str:
    path = password_file(keys_dir, principal)
    if not path.exists():
        raise CredentialsMissing(
            f"Kafka-wachtwoord van {user_name(principal)} ontbreekt ({path}); "
            "lokaal maakt `kmt up` het aan, een deployment levert het zelf"
        )
    return path.read_text().strip()


def ensure_password(keys_dir: Path, principal: str) -> str:
    """The principal's password, created (0600, folder 0700) when absent."""
    path = password_file(keys_dir, principal)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return read_password(keys_dir, principal)
