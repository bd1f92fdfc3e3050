"""A single-node Apache Kafka in KRaft mode (broker and controller in one JVM)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from services.devstack.paths import kafka_libs
from services.devstack.process import stop

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}/logs
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
"""

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


def start_kafka(data_dir: Path, port: int, controller_port: int) -> subprocess.Popen[bytes]:
    """Format the storage once, start the broker, and return once it answers metadata."""
    if not kafka_libs().is_dir():
        raise FileNotFoundError("Kafka niet gevonden: voer `make provision` uit")
    data_dir.mkdir(parents=True, exist_ok=True)
    props = data_dir / "server.properties"
    props.write_text(
        SERVER_PROPERTIES.format(port=port, controller_port=controller_port, data_dir=data_dir)
    )
    (data_dir / "log4j.properties").write_text(LOG4J.format(data_dir=data_dir))
    if not (data_dir / "logs" / "meta.properties").exists():
        cluster_id = uuid.uuid4().hex[:22]
        subprocess.run(
            _java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
                data_dir=data_dir,
            ),
            check=True,
            capture_output=True,
        )
    out = (data_dir / "stdout.log").open("ab")
    process = subprocess.Popen(
        _java("kafka.Kafka", str(props), data_dir=data_dir),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        asyncio.run(wait_until_ready(f"127.0.0.1:{port}", process))
    except BaseException:
        stop(process)
        raise
    return process


async def wait_until_ready(
    bootstrap: str, process: subprocess.Popen[bytes], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Kafka stopte meteen (exit {process.returncode})")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
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
