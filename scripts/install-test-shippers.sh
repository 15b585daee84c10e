#!/usr/bin/env bash
# Log shippers the integration tests run as their own processes (tests/integration/test_shippers_*.py):
# rsyslog with omkafka, syslog-ng with its Kafka destination, systemd's journal tools
# (systemd-journal-remote, journalctl). Test-only: the demo never installs them.
#
# Debian's rsyslog and syslog-ng-core conflict (both are "the" system log daemon): installing one
# removes the other. rsyslog is installed as a package; syslog-ng and its Kafka module are unpacked
# into $RCA_TEST_SHIPPERS_PREFIX (default /opt/openstack-rca-test), never configured as a system
# daemon; the tests run it from there (tests/integration/shippers.py finds it). A machine whose
# system log daemon is syslog-ng keeps it: rsyslog is then skipped, never swapped in.
#
# Debian starts a package's service on install; none may keep running here (the tests start their
# own daemons on loopback with their own folders), so a policy-rc.d that refuses every start is in
# place during the install, and any unit the packages enabled is stopped and disabled after.
# Idempotent; whatever cannot be installed (not root, no apt, no network) is skipped with one line,
# and the tests that need it skip with a reason.
set -uo pipefail

PREFIX="${RCA_TEST_SHIPPERS_PREFIX:-/opt/openstack-rca-test}"
SYSLOG_NG_ROOT="$PREFIX/syslog-ng"
SYSLOG_NG_LIBS=(libcap2 libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libssl3 libsystemd0 libwrap0 librdkafka1)
UNITS=(rsyslog.service syslog-ng.service systemd-journal-remote.socket systemd-journal-remote.service)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
say() { echo "install-test-shippers: $*" >&2; }

wanted=(systemd systemd-journal-remote "${SYSLOG_NG_LIBS[@]}")
if installed syslog-ng-core; then
  say "syslog-ng is this machine's log daemon; rsyslog is not installed beside it (its tests will skip)"
else
  wanted+=(rsyslog rsyslog-kafka)
fi
missing=()
for pkg in "${wanted[@]}"; do installed "$pkg" || missing+=("$pkg"); done
need_syslog_ng=1
if [ -x "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng" ] && [ -e "$SYSLOG_NG_ROOT/usr/lib/syslog-ng/3.38/libkafka.so" ]; then
  need_syslog_ng=0
fi
if installed syslog-ng-core && installed syslog-ng-mod-rdkafka; then
  need_syslog_ng=0
fi
if [ "${#missing[@]}" -eq 0 ] && [ "$need_syslog_ng" = 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "skipped (needs root and apt-get): ${missing[*]} ${need_syslog_ng/1/syslog-ng}; their tests will skip"
  exit 0
fi

# refuse every service start while apt runs; put back whatever policy was there before
policy=/usr/sbin/policy-rc.d
workdir="$(mktemp -d)"
if [ -e "$policy" ]; then cp -p "$policy" "$workdir/policy-rc.d.before"; fi
printf '#!/bin/sh\n# install-test-shippers.sh: no service starts during the install\nexit 101\n' >"$policy"
chmod 755 "$policy"
cleanup() {
  if [ -e "$workdir/policy-rc.d.before" ]; then cp -p "$workdir/policy-rc.d.before" "$policy"; else rm -f "$policy"; fi
  rm -rf "$workdir"
}
trap cleanup EXIT
daemon_pids() { pgrep -x rsyslogd; pgrep -x syslog-ng; pgrep -x systemd-journal-remote; } 2>/dev/null
before=" $(daemon_pids | tr '\n' ' ') "

export DEBIAN_FRONTEND=noninteractive
# another install may hold dpkg's lock (another helper's script, unattended upgrades): wait for it
apt_quiet() {
  apt-get -qq -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "$@" >/dev/null 2>&1
}
if [ "${#missing[@]}" -gt 0 ] && ! apt_quiet install -y --no-install-recommends "${missing[@]}"; then
  apt_quiet update || true
  # one at a time, so one that is unavailable does not keep the others out
  for pkg in "${missing[@]}"; do
    apt_quiet install -y --no-install-recommends "$pkg" || say "$pkg could not be installed; its tests will skip"
  done
fi

if [ "$need_syslog_ng" = 1 ]; then
  # unpacked, not installed: dpkg never sees it, so it conflicts with nothing and runs no script
  if (cd "$workdir" && chown _apt "$workdir" 2>/dev/null; apt_quiet download syslog-ng-core syslog-ng-mod-rdkafka) \
     && rm -rf "$SYSLOG_NG_ROOT" && mkdir -p "$SYSLOG_NG_ROOT" \
     && for deb in "$workdir"/*.deb; do dpkg-deb -x "$deb" "$SYSLOG_NG_ROOT" || exit 1; done; then
    rm -rf "$SYSLOG_NG_ROOT/etc/init.d" "$SYSLOG_NG_ROOT/etc/logrotate.d" "$SYSLOG_NG_ROOT/lib/systemd"
  else
    rm -rf "$SYSLOG_NG_ROOT"
    say "syslog-ng could not be unpacked into $SYSLOG_NG_ROOT; its tests will skip"
  fi
fi

# Nothing the packages brought may run as a system service.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for unit in "${UNITS[@]}"; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
# Without systemd, a maintainer script could still have run a daemon directly: end only those
# that were not running before this install.
for pid in $(daemon_pids); do
  case "$before" in *" $pid "*) ;; *) kill "$pid" 2>/dev/null || true ;; esac
done
exit 0
