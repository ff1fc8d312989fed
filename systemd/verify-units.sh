#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks the systemd snippets the way systemd reads them:
#   systemd-analyze verify   the service (from its template) and the socket
#   systemd-tmpfiles/sysusers --root   the tmpfiles and sysusers snippets,
#                            applied to a scratch root
# Usage: verify-units.sh SYSTEMD_SOURCE_DIR. Exits 77 (skipped) without
# systemd-analyze. Any output from systemd-analyze counts as a failure.
set -eu
src=$(cd "$1" && pwd)
command -v systemd-analyze >/dev/null 2>&1 || { echo "no systemd-analyze: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify wants ExecStart= to exist: point the template at a stand-in binary
mkdir -p "$tmp/sbin" "$tmp/units" "$tmp/root/etc"
printf '#!/bin/sh\nexit 0\n' >"$tmp/sbin/airlockd"
chmod 755 "$tmp/sbin/airlockd"
sed "s|@CMAKE_INSTALL_FULL_SBINDIR@|$tmp/sbin|g" "$src/airlockd.service.in" >"$tmp/units/airlockd.service"
if grep -n '@[A-Z_]*@' "$tmp/units/airlockd.service"; then
	echo "unsubstituted placeholder in airlockd.service.in" >&2
	exit 1
fi
cp "$src/airlockd.socket" "$tmp/units/"

status=0
out=$(systemd-analyze verify --man=no "$tmp/units/airlockd.service" "$tmp/units/airlockd.socket" 2>&1) || status=$?
if [ "$status" -ne 0 ] || [ -n "$out" ]; then
	printf 'systemd-analyze verify (exit %s):\n%s\n' "$status" "$out" >&2
	exit 1
fi
echo "systemd-analyze verify: clean"

fail() { echo "$*" >&2; exit 1; }
out=$(systemd-tmpfiles --root="$tmp/root" --create "$src/airlock.tmpfiles" 2>&1) || fail "tmpfiles: $out"
# QEMU (libvirt-qemu) must be able to traverse these
[ "$(stat -c %a "$tmp/root/var/lib/airlock")" = 711 ] || fail "tmpfiles: /var/lib/airlock mode"
[ "$(stat -c %a "$tmp/root/var/lib/airlock/sandboxes")" = 711 ] || fail "tmpfiles: sandboxes mode"
[ "$(stat -c %a "$tmp/root/run/airlock")" = 755 ] || fail "tmpfiles: /run/airlock mode"
out=$(systemd-sysusers --root="$tmp/root" "$src/airlock.sysusers" 2>&1) || fail "sysusers: $out"
grep -q '^airlock:' "$tmp/root/etc/group" || fail "sysusers: no group airlock"
echo "tmpfiles and sysusers: clean"
