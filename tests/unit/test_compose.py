"""docker-compose.yml agrees with the settings code: names, ports, variables."""
import yaml

from config.settings import PROJECT_ROOT, StackSettings, TopicSettings, env_names

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
STANDARD = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


def test_services_are_the_stack_plus_worker():
    assert set(COMPOSE["services"]) == {"kafka", "s3proxy", "postgres", "mlflow", "worker"}


def test_ports_match_the_local_stack_defaults():
    cfg = StackSettings()
    ports = {name: svc.get("ports", []) for name, svc in COMPOSE["services"].items()}
    assert f"{cfg.kafka_port}:{cfg.kafka_port}" in ports["kafka"]
    assert f"{cfg.s3_port}:{cfg.s3_port}" in ports["s3proxy"]
    assert f"{cfg.mlflow_port}:{cfg.mlflow_port}" in ports["mlflow"]


def test_worker_variables_are_read_by_the_settings_code():
    worker_env = set(COMPOSE["services"]["worker"]["environment"])
    unknown = worker_env - env_names() - STANDARD
    assert unknown == set(), f"compose sets variables the code never reads: {unknown}"


def test_worker_points_at_compose_services():
    env = COMPOSE["services"]["worker"]["environment"]
    assert env["RCA_KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] == "kafka"
    assert env["MLFLOW_TRACKING_URI"].startswith("http://mlflow:")
    assert env["MLFLOW_S3_ENDPOINT_URL"].startswith("http://s3proxy:")
    assert env["RCA_TOPIC_LOGS"] == TopicSettings().logs
