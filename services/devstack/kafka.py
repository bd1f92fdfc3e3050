"""A single-node Apache Kafka in KRaft mode (broker and controller in one JVM)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from services.bus.client import BusLogin
from services.bus.principals import ADMIN, BROKER, PRINCIPALS, ensure_password, user_name
from services.devstack.paths import kafka_libs
from services.devstack.process import stop
from services.devstack.tls import BROKER_CN, BrokerTls, ensure_broker_tls

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required \
username="{broker_user}" password="{broker_password}";
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={truststore}
ssl.enabled.protocols=TLSv1.3,TLSv1.2
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{broker_user};User:{admin_user};User:CN={broker_cn}
log.dirs={data_dir}/logs
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
"""
"""Clients reach only the SASL_SSL listener (SCRAM-SHA-512 over TLS); the controller listener
is on loopback and takes only the broker's own certificate (mutual TLS)."""

LOG4J = """\
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={data_dir}/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


def _java(main: str, *args: str, data_dir: Path) -> list[str]:
    return [
        "java",
        "-Xms256m",
        "-Xmx768m",
        "-XX:+UseSerialGC",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{data_dir}/log4j.properties",
        "-cp",
        f"{kafka_libs()}/*",
        main,
        *args,
    ]


def start_kafka(
    data_dir: Path,
    port: int,
    controller_port: int,
    keys_dir: Path,
    extra_principals: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """Format the storage once (with every principal's SCRAM credentials), start the broker,
    and return once the admin principal can read its metadata over TLS."""
    if not kafka_libs().is_dir():
        raise FileNotFoundError("Kafka niet gevonden: voer `make provision` uit")
    data_dir.mkdir(parents=True, exist_ok=True)
    tls = ensure_broker_tls(data_dir / "tls")
    passwords = {p: ensure_password(keys_dir, p) for p in (*PRINCIPALS, *extra_principals)}
    props = data_dir / "server.properties"
    props.write_text(_properties(data_dir, port, controller_port, tls, passwords[BROKER]))
    props.chmod(0o600)  # holds the broker's own password
    (data_dir / "log4j.properties").write_text(LOG4J.format(data_dir=data_dir))
    formatted_before = (data_dir / "logs" / "meta.properties").exists()
    if not formatted_before:
        scram = [
            arg
            for principal, password in passwords.items()
            for arg in (
                "--add-scram",
                f"SCRAM-SHA-512=[name={user_name(principal)},password={password}]",
            )
        ]
        cluster_id = uuid.uuid4().hex[:22]
        subprocess.run(
            _java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), *scram,
                data_dir=data_dir,
            ),
            check=True,
            capture_output=True,
        )  # fmt: skip
    out = (data_dir / "stdout.log").open("ab")
    process = subprocess.Popen(
        _java("kafka.Kafka", str(props), data_dir=data_dir),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    admin = BusLogin(
        user_name(ADMIN),
        passwords[ADMIN],
        create_ssl_context(cafile=str(tls.ca_cert)),
    )
    try:
        asyncio.run(wait_until_ready(f"127.0.0.1:{port}", admin, process))
        if formatted_before:  # a principal added since (alerts) has no credentials there yet
            _add_missing_credentials(data_dir, port, tls, passwords)
    except BaseException:
        stop(process)
        raise
    return process


ADMIN_CLIENT = """\
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
username="{user}" password="{password}";
ssl.truststore.type=PEM
ssl.truststore.location={truststore}
"""


def _add_missing_credentials(
    data_dir: Path, port: int, tls: BrokerTls, passwords: dict[str, str]
) -> None:
    """Give every principal that cannot log in its SCRAM credentials (as the admin, with
    Kafka's own ConfigCommand): storage formatted by an older release knows fewer."""
    bootstrap = f"127.0.0.1:{port}"
    context = create_ssl_context(cafile=str(tls.ca_cert))
    missing = [
        principal
        for principal, password in passwords.items()
        if principal != BROKER
        and not asyncio.run(_logs_in(bootstrap, BusLogin(user_name(principal), password, context)))
    ]
    if not missing:
        return
    config = data_dir / "admin-client.properties"
    config.write_text(
        ADMIN_CLIENT.format(
            user=user_name(ADMIN), password=passwords[ADMIN], truststore=tls.ca_cert
        )
    )
    config.chmod(0o600)
    for principal in missing:
        subprocess.run(
            _java(
                "kafka.admin.ConfigCommand", "--bootstrap-server", bootstrap,
                "--command-config", str(config), "--alter", "--entity-type", "users",
                "--entity-name", user_name(principal),
                "--add-config", f"SCRAM-SHA-512=[password={passwords[principal]}]",
                data_dir=data_dir,
            ),
            check=True,
            capture_output=True,
        )  # fmt: skip


async def _logs_in(bootstrap: str, login: BusLogin) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, **login.aiokafka()
    )
    try:
        await admin.start()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


def _properties(
    data_dir: Path, port: int, controller_port: int, tls: BrokerTls, broker_password: str
) -> str:
    return SERVER_PROPERTIES.format(
        port=port,
        controller_port=controller_port,
        data_dir=data_dir,
        keystore=tls.keystore,
        truststore=tls.ca_cert,
        broker_user=user_name(BROKER),
        broker_password=broker_password,
        admin_user=user_name(ADMIN),
        broker_cn=BROKER_CN,
    )


async def wait_until_ready(
    bootstrap: str, login: BusLogin, process: subprocess.Popen[bytes], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Kafka stopte meteen (exit {process.returncode})")
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=2000, **login.aiokafka()
        )
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Kafka op {bootstrap} niet klaar binnen {timeout:.0f} s"
                ) from None
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
