"""docker-compose.yml agrees with the settings code: names, ports, variables, and Prometheus
scrapes the port the workers serve /metrics on."""
import json

import yaml

from config.settings import PROJECT_ROOT, StackSettings, TopicSettings, UISettings, WorkerSettings, env_names

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
STANDARD = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


def test_services_are_the_stack_plus_worker_page_and_monitoring():
    assert set(COMPOSE["services"]) == {"kafka", "s3proxy", "postgres", "mlflow", "worker", "ui", "prometheus",
                                        "alertmanager", "grafana"}


def test_ports_match_the_local_stack_defaults():
    cfg = StackSettings()
    ports = {name: svc.get("ports", []) for name, svc in COMPOSE["services"].items()}
    assert f"{cfg.kafka_port}:{cfg.kafka_port}" in ports["kafka"]
    assert f"{cfg.s3_port}:{cfg.s3_port}" in ports["s3proxy"]
    assert f"{cfg.mlflow_port}:{cfg.mlflow_port}" in ports["mlflow"]


def test_worker_and_ui_variables_are_read_by_the_settings_code():
    for service in ("worker", "ui"):
        env = set(COMPOSE["services"][service]["environment"])
        unknown = env - env_names() - STANDARD
        assert unknown == set(), f"compose sets variables the code never reads in {service}: {unknown}"


def test_worker_points_at_compose_services():
    env = COMPOSE["services"]["worker"]["environment"]
    assert env["RCA_KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] == "kafka"
    assert env["MLFLOW_TRACKING_URI"].startswith("http://mlflow:")
    assert env["MLFLOW_S3_ENDPOINT_URL"].startswith("http://s3proxy:")
    assert env["RCA_TOPIC_LOGS"] == TopicSettings().logs


def test_prometheus_scrapes_the_workers_metrics_port():
    worker = COMPOSE["services"]["worker"]["environment"]
    port = int(worker.get("RCA_WORKER_METRICS_PORT", WorkerSettings().metrics_port))
    assert port and worker["RCA_WORKER_METRICS_HOST"] == "0.0.0.0"   # reachable from the prometheus container
    prom = COMPOSE["services"]["prometheus"]
    mount = next(v for v in prom["volumes"] if v.endswith("/etc/prometheus/prometheus.yml:ro"))
    config = yaml.safe_load((PROJECT_ROOT / mount.split(":")[0]).read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    sd = jobs["rca-worker"]["dns_sd_configs"][0]
    assert sd["names"] == ["worker"] and sd["port"] == port


def test_ui_reads_the_worker_metrics_and_listens_on_loopback_of_the_host():
    ui = COMPOSE["services"]["ui"]
    port = int(ui["environment"].get("RCA_UI_PORT", UISettings().port))
    assert ui["environment"]["RCA_UI_METRICS_URLS"] == "http://worker:9464/metrics"
    assert f"127.0.0.1:{port}:{port}" in ui["ports"]


def test_grafana_dashboard_is_provisioned_and_uses_worker_metrics():
    grafana = COMPOSE["services"]["grafana"]
    mounts = {v.split(":")[1]: PROJECT_ROOT / v.split(":")[0] for v in grafana["volumes"]}
    dashboards = mounts["/var/lib/grafana/dashboards"]
    provider = yaml.safe_load((mounts["/etc/grafana/provisioning"] / "dashboards" / "rca.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    exprs = [t["expr"] for f in dashboards.glob("*.json") for p in json.loads(f.read_text())["panels"]
             for t in p["targets"]]
    assert any("rca_consumer_lag" in e for e in exprs) and any("rca_analysis_seconds_bucket" in e for e in exprs)


def test_prometheus_loads_the_alert_rules_and_sends_to_the_alertmanager():
    prom = COMPOSE["services"]["prometheus"]
    mounts = {v.split(":")[1]: PROJECT_ROOT / v.split(":")[0] for v in prom["volumes"]}
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    assert all(f in mounts and mounts[f].exists() for f in config["rule_files"])
    am = COMPOSE["services"]["alertmanager"]
    target = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert target.split(":")[0] == "alertmanager" and any(p.endswith(":" + target.split(":")[1]) for p in am["ports"])
    am_mount = next(v for v in am["volumes"] if v.endswith("/etc/alertmanager/alertmanager.yml:ro"))
    assert "receivers" in yaml.safe_load((PROJECT_ROOT / am_mount.split(":")[0]).read_text())
    # the incident alert links to the page the ui service serves
    ui_port = COMPOSE["services"]["ui"]["environment"]["RCA_UI_PORT"]
    assert config["global"]["external_labels"]["rca_ui_url"].endswith(":" + ui_port)
