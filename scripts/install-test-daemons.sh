#!/usr/bin/env bash
# Test-only: install the infrastructure daemons whose real logs
# tests/integration/test_infra_daemons.py reads (RabbitMQ, MariaDB, HAProxy,
# keepalived, Apache + mod_wsgi, Open vSwitch, libvirt). The demo never runs
# this: a newcomer's machine gets no RabbitMQ or Apache it did not ask for.
#
# Idempotent (installed packages are skipped), and no service is left running:
# Debian's packages start their services on install, so a policy-rc.d that
# answers 101 ("action forbidden") is in place while apt runs, and anything
# that started anyway is stopped afterwards. The tests start each daemon as
# their own process, on loopback, with their own data folder.
# Needs root (or sudo) and apt-get; elsewhere it says so and exits 0, and the
# tests skip with a reason.
set -euo pipefail

PACKAGES=(
  rabbitmq-server mariadb-server haproxy keepalived apache2 libapache2-mod-wsgi-py3
  openvswitch-switch libvirt-daemon libvirt-clients
)
# daemons the packages may start (names of init scripts / systemd units)
SERVICES=(rabbitmq-server mariadb mysql haproxy keepalived apache2 openvswitch-switch
          ovs-vswitchd ovsdb-server libvirtd virtlogd virtlockd)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-daemons: no apt-get here; the daemon tests will skip" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-test-daemons: needs root or passwordless sudo; the daemon tests will skip" >&2
    exit 0
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" = 0 ]; then
  echo "install-test-daemons: all installed"
  exit 0
fi

# forbid service starts while apt runs; put back whatever policy was there
policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then
  backup="$(mktemp)"
  $SUDO cp -p "$policy" "$backup"
fi
restore() {
  if [ -n "$backup" ]; then $SUDO cp -p "$backup" "$policy"; rm -f "$backup"; else $SUDO rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
$SUDO chmod 755 "$policy"

epmd_before=0
if pgrep -x epmd >/dev/null 2>&1; then epmd_before=1; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

# stop anything that started anyway (a postinst that ignores policy-rc.d)
for s in "${SERVICES[@]}"; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl stop "$s" >/dev/null 2>&1 || true
    $SUDO systemctl disable "$s" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$s" ]; then
    $SUDO "/etc/init.d/$s" stop >/dev/null 2>&1 || true
  fi
done
# RabbitMQ's epmd may linger after the package's own checks (only if this install started it)
if [ "$epmd_before" = 0 ] && command -v epmd >/dev/null 2>&1 && pgrep -x epmd >/dev/null 2>&1; then
  epmd -kill >/dev/null 2>&1 || true
fi
echo "install-test-daemons: installed ${missing[*]}"
