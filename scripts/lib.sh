# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for scripts/quickstart and scripts/test. Sourced, not run.

# shellcheck disable=SC2034 # used by the scripts that source this
ALK_PACKAGES=(
	build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
	libvirt-dev libglib2.0-dev libjson-glib-dev libsoup-3.0-dev check
	libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
	linux-image-cloud-amd64 busybox-static musl-tools e2fsprogs cpio
	libxml2-utils valgrind python3 python3-libvirt qemu-guest-agent
	python3-jsonschema python3-yaml python3-setuptools python3-pip python3-wheel
	nftables libnftables-dev iproute2 tini tmux nodejs
	mmdebstrap skopeo umoci zstd lz4 xz-utils linux-image-amd64
	libgdk-pixbuf-2.0-dev libnl-route-3-dev
	etcd-server etcd-client haproxy glib-networking openssl
)
# npm for the MCP SDK client of the mcp-daemon test and the OpenAPI linters: Debian's
# package, unless an npm is there already (NodeSource's nodejs carries its own and
# conflicts with Debian's npm)
ALK_NPM_PACKAGES=(npm)

alk_log() { printf '==> %s\n' "$*" >&2; }
alk_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs whatever of the given packages is missing; apt-get update only
# when something is.
alk_install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || alk_die "missing packages (${missing[*]}); run as root to install them"
	alk_log "installing ${missing[*]}"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Starts virtlogd and libvirtd unless they already run: under systemd when
# PID 1 is systemd, else as plain daemons. Waits until libvirt answers.
#
# libvirtd daemonizes each QEMU, so an exited QEMU is reaped by the nearest
# subreaper, else PID 1, and destroying a domain waits until the process is
# gone, zombie included. systemd reaps at once; the minimal init of a
# container or micro-VM may take seconds (about 2 s per destroy on the
# development machines). Outside systemd, libvirtd therefore runs in the
# foreground under `tini -s`, a subreaper that reaps at once.
alk_start_libvirt() {
	if virsh -c qemu:///system version >/dev/null 2>&1; then
		return 0
	fi
	if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
		systemctl start virtlogd.socket libvirtd.socket libvirtd.service
	else
		pgrep -x virtlogd >/dev/null || virtlogd -d
		if ! pgrep -x libvirtd >/dev/null; then
			setsid tini -s -- libvirtd </dev/null >/dev/null 2>&1 &
		fi
	fi
	local _
	for _ in $(seq 1 100); do
		virsh -c qemu:///system version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	alk_die "libvirtd did not answer on qemu:///system within 10 s"
}
