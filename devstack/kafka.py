"""Apache Kafka, single node in KRaft mode, from Maven Central on the JDK."""
from __future__ import annotations

import uuid
from pathlib import Path

from config.settings import StackSettings, TopicSettings
from devstack import maven, process

NAME = "kafka"
MARKER = "kafka.Kafka"

_LOG4J2 = """Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka
        level: WARN
      - name: org.apache.kafka
        level: WARN
"""


def _properties(cfg: StackSettings, data_dir: Path) -> str:
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{cfg.kafka_controller_port}
listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port},CONTROLLER://127.0.0.1:{cfg.kafka_controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
message.max.bytes=10485760
"""


def _classpath(cfg: StackSettings) -> str:
    lib = maven.resolve(
        f"kafka-{cfg.kafka_version}",
        [
            f"org.apache.kafka:kafka_2.13:{cfg.kafka_version}",
            "org.apache.logging.log4j:log4j-slf4j2-impl:2.24.3",
            "org.apache.logging.log4j:log4j-core:2.24.3",
            "com.fasterxml.jackson.dataformat:jackson-dataformat-yaml:2.19.0",
        ],
        cfg.cache_dir,
    )
    return f"{lib}/*"


def up(cfg: StackSettings, bootstrap: str) -> int:
    """Start the broker if it is not running; return its pid once it answers."""
    return process.ensure(cfg.state_dir, NAME, MARKER, lambda: _start(cfg), lambda: _ready(bootstrap), 120,
                          port=cfg.kafka_port)


def _start(cfg: StackSettings) -> int:
    home = cfg.state_dir / "kafka"
    cp = _classpath(cfg)
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(_properties(cfg, data))
    (home / "log4j2.yaml").write_text(_LOG4J2)
    java = ["java", "-Xms256m", "-Xmx768m", f"-Dlog4j2.configurationFile={home / 'log4j2.yaml'}", "-cp", cp]
    if not (data / "meta.properties").exists():
        format_storage(java, props, _cluster_id())
    return process.start(cfg.state_dir, NAME, java + [MARKER, str(props)])


def format_storage(java: list[str], props: Path, cluster_id: str) -> None:
    """Format a KRaft log folder once, before the first start (`kafka-storage.sh format`)."""
    import subprocess

    fmt = subprocess.run(
        # `--cluster-id=ID` in one word: an id starting with "-" (1 in 64) was read as an option
        java + ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props)],
        capture_output=True, text=True,
    )
    if fmt.returncode != 0:
        raise process.ServiceError(f"kafka storage format failed: {fmt.stdout}{fmt.stderr}")


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _ready(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=2)
    return bool(md.brokers)


def ensure_topics(bootstrap: str, topics: TopicSettings) -> None:
    """Create the DESIGN.md topics with their partition counts (idempotent)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=10).topics
    compacted = topics.compacted()
    new = [NewTopic(name, num_partitions=n, replication_factor=1,
                    config={"cleanup.policy": "compact"} if name in compacted else {})
           for name, n in topics.partitions().items() if name not in existing]
    for name, fut in (admin.create_topics(new) if new else {}).items():
        try:
            fut.result(30)
        except Exception as exc:  # TOPIC_ALREADY_EXISTS from a concurrent `up` is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def down(cfg: StackSettings) -> bool:
    return process.stop(cfg.state_dir, NAME, MARKER, timeout=30)
