#!/usr/bin/env bash
# Install everything the project needs into .venv (idempotent).
# Python 3.11+ (with venv/ensurepip) for the project; Java 17+ and Maven for the local
# stack (Kafka and s3proxy come from Maven Central).
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
can_apt() { need apt-get && [ "$(id -u)" = 0 ]; }
apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
die() { echo "install: $*" >&2; exit 1; }

if ! need java || ! need mvn; then
  if can_apt; then
    apt_install openjdk-17-jre-headless maven
  else
    die "Java 17+ and Maven are required (e.g. apt-get install openjdk-17-jre-headless maven)"
  fi
fi
# `java -version` prints e.g. openjdk version "17.0.9" (or "1.8.0_292" before Java 9)
java_version=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' || true)
java_version=${java_version%%$'\n'*}
java_major=${java_version#1.}
java_major=${java_major%%[!0-9]*}
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
  die "Java 17+ is required, found '${java_version:-unknown}' ($(command -v java)); install e.g. openjdk-17-jre-headless and put it first on PATH"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  need "$PY" || die "Python 3.11+ is required: '$PY' not found (set PYTHON=/path/to/python3.11 or install python3)"
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11+ is required, '$PY' is $("$PY" -c 'import platform; print(platform.python_version())') (set PYTHON=/path/to/python3.11)"
  if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    venv_pkg=python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv
    if can_apt; then
      apt_install "$venv_pkg"
    else
      die "'$PY' cannot create virtual environments (no venv/ensurepip); install $venv_pkg (apt-get install $venv_pkg)"
    fi
  fi
  "$PY" -m venv .venv
fi
# The browser test drives Debian's Chromium (Playwright never downloads a browser); it skips
# with a reason where none can be installed.
if ! need chromium && ! [ -x /usr/bin/chromium ]; then
  if can_apt; then
    apt_install chromium || echo "install: chromium not installed; the browser test will skip" >&2
  fi
fi
# kcat (a Kafka client we did not write) feeds the worker in a test as a shipper would;
# that test skips with a reason where it cannot be installed.
if ! need kcat && can_apt; then
  apt_install kcat || echo "install: kcat not installed; the kcat test will skip" >&2
fi
# Prometheus (with promtool) and Alertmanager check the alert rules in deploy/ and carry an
# alert from a worker's /metrics to a webhook in a test; those tests skip where they are missing.
if { ! need promtool || ! need prometheus-alertmanager; } && can_apt; then
  apt_install prometheus prometheus-alertmanager \
    || echo "install: prometheus/alertmanager not installed; the alert tests will skip" >&2
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  pip=(.venv/bin/python -m pip --quiet --disable-pip-version-check --no-input install)
  if [ "$(id -u)" = 0 ]; then pip+=(--root-user-action=ignore); fi   # a venv: root is fine here
  "${pip[@]}" --upgrade pip
  "${pip[@]}" -e ".[test]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
