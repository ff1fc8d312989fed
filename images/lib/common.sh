# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# What every airlock image recipe shares: messages, tool checks, the agent,
# the host kernel, the initramfs of ours, and the ext4-in-qcow2 root.
# Sourced by images/airlock-image and by the recipes (images/*/build.sh).
#
# A recipe is run by airlock-image as
#   RECIPE --stamp ARGS...          prints every input of the build (one per line)
#   RECIPE --stage DIR ARGS...      writes vmlinux (or vmlinuz), initrd.img, rootfs.qcow2 and
#                                   recipe.json (the image.json members it knows)
# into DIR; airlock-image does the rest (build id, image.json, the swap).

PROG=${PROG:-${0##*/}}
ALK_LIB=$(dirname "$(realpath -e "${BASH_SOURCE[0]}")")
ALK_HELPER=$ALK_LIB/helper.py
BUSYBOX=/bin/busybox
# Kernel command line (see images/minimal/README.md for each word).
ALK_CMDLINE="console=ttyS0 panic=-1 quiet cryptomgr.notests root=/dev/vda rw"
# Modules the initramfs loads, in this order (dependencies first as modprobe
# resolves them; built-in ones are skipped: the cloud kernel has ext4 built in,
# the generic one as a module).
# virtio_input and evdev: a display's tablet and keyboard (/dev/input/event*);
# the PS/2 keyboard (i8042, atkbd) is built into both kernels.
# virtio-rng: the domain's RNG, which readies the guest's random pool early.
ALK_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	virtio_console virtio_blk failover net_failover virtio_net pvpanic_mmio ext4
	virtio_input evdev virtio-rng)
ALK_INITRD_APPLETS=(sh mount umount insmod sleep echo cat poweroff switch_root tail)

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

need() { # need TOOL PACKAGE
	command -v "$1" >/dev/null 2>&1 ||
		die "missing tool '$1': install it with 'apt-get install $2'"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

is_dynamic() { # ELF with shared-library dependencies?
	local out
	out=$(ldd "$1" 2>&1 || true)
	[[ $out == *'=>'* ]]
}

need_common_tools() {
	need modprobe kmod
	need mke2fs e2fsprogs
	need qemu-img qemu-utils
	need cpio cpio
	need gzip gzip
	need sha256sum coreutils
	need ldd libc-bin
	need setpriv util-linux
	need python3 python3
	[ -x /usr/sbin/resize2fs ] || die "missing /usr/sbin/resize2fs: install it with 'apt-get install e2fsprogs'"
	[ -x "$BUSYBOX" ] || die "missing $BUSYBOX: install it with 'apt-get install busybox-static'"
	if is_dynamic "$BUSYBOX"; then
		die "$BUSYBOX is dynamically linked: install it with 'apt-get install busybox-static'"
	fi
}

# check_agent PATH: sets AGENT (absolute), AGENT_SHA.
check_agent() {
	AGENT=$1
	[ -n "$AGENT" ] || die "--agent PATH is required"
	[ -e "$AGENT" ] || die "agent '$AGENT' does not exist (build it first: cmake --build build)"
	[ -f "$AGENT" ] || die "agent '$AGENT' is not a regular file"
	[ -x "$AGENT" ] || die "agent '$AGENT' is not executable"
	AGENT=$(realpath -e "$AGENT")
	head -c 4 "$AGENT" | grep -q 'ELF' || die "agent '$AGENT' is not an ELF binary"
	if is_dynamic "$AGENT"; then
		die "agent '$AGENT' is dynamically linked; it must be static (musl-gcc -static)"
	fi
	AGENT_SHA=$(sha "$AGENT")
}

# agent_version: first line of AGENT --version, run unprivileged (a PID-1
# program may mount or power off) with a time limit; "unknown" otherwise.
agent_version() {
	local probe v=unknown
	probe=$(mktemp -d /tmp/airlock-agent-probe.XXXXXX)
	chmod 0755 "$probe"
	install -m 0755 "$AGENT" "$probe/agent"
	# setpriv execs (runuser would fork), so the timeout kills the agent itself.
	if (cd / && timeout -s KILL 5 setpriv --reuid=65534 --regid=65534 --clear-groups \
		--no-new-privs -- "$probe/agent" --version </dev/null >"$probe/out" 2>/dev/null); then
		# Printable ASCII, at most 64 characters: what the daemon accepts.
		v=$(head -n 1 "$probe/out" | tr -cd '[:print:]' | cut -c 1-64)
		[ -n "$v" ] || v=unknown
	fi
	rm -rf -- "$probe"
	printf '%s\n' "$v"
}

# pick_kernel cloud|generic: sets VMLINUZ and KVER from the host's /boot.
pick_kernel() {
	local flavour=$1 k
	local -a found=()
	shopt -s nullglob
	for k in /boot/vmlinuz-*-amd64; do
		case $flavour:$k in
		cloud:*-cloud-amd64) found+=("$k") ;;
		generic:*-cloud-amd64) ;;
		generic:*) found+=("$k") ;;
		esac
	done
	shopt -u nullglob
	local pkg=linux-image-cloud-amd64
	[ "$flavour" = cloud ] || pkg=linux-image-amd64
	[ ${#found[@]} -gt 0 ] || die "no $flavour kernel in /boot: install it with 'apt-get install $pkg'"
	VMLINUZ=$(printf '%s\n' "${found[@]}" | sort -V | tail -n 1)
	KVER=${VMLINUZ#/boot/vmlinuz-}
	[ -r "$VMLINUZ" ] || die "cannot read $VMLINUZ"
	[ -d "/lib/modules/$KVER" ] ||
		die "kernel $KVER has no /lib/modules/$KVER: reinstall linux-image-$KVER"
}

# install_kernel STAGE: the kernel into STAGE, as the ELF vmlinux inside VMLINUZ
# when it has a PVH entry note (Debian's kernels do): QEMU then loads the ELF
# and enters it in 32-bit mode, with no real-mode setup and no decompression
# (both slow under TCG), and the kernel's pages come from the page cache,
# shared by every sandbox, instead of a copy each decompresses into its own
# memory. Else VMLINUZ as it is. Sets KERNEL_FILE (image.json's "kernel").
install_kernel() {
	local stage=$1 rc=0
	python3 "$ALK_HELPER" vmlinux "$VMLINUZ" "$stage/vmlinux" || rc=$?
	case $rc in
	0) KERNEL_FILE=vmlinux ;;
	3)
		KERNEL_FILE=vmlinuz
		install -m 0644 "$VMLINUZ" "$stage/vmlinuz"
		;;
	*) exit 1 ;;
	esac
	chmod 0644 "$stage/$KERNEL_FILE"
}

# What the initramfs and the root disk depend on, for a recipe's --stamp.
common_stamp() {
	printf 'common.sh=%s\n' "$(sha "${BASH_SOURCE[0]}")"
	printf 'helper.py=%s\n' "$(sha "$ALK_HELPER")"
	printf 'agent=%s\n' "$AGENT_SHA"
	printf 'kernel=%s %s\n' "$KVER" "$(sha "$VMLINUZ")"
	printf 'busybox=%s %s\n' "$("$BUSYBOX" 2>&1 | head -n 1)" "$(sha "$BUSYBOX")"
	printf 'resize2fs=%s\n' "$(sha /usr/sbin/resize2fs)"
}

# build_initramfs WORK OUT INIT: our initramfs for kernel KVER: loads the virtio
# modules, grows the root ext4 to fill the disk, switches to it and execs INIT.
build_initramfs() {
	local work=$1 out=$2 init=$3 I a lib m deps kind path
	I=$work/initramfs
	mkdir -p "$I"/{bin,dev,proc,sys,newroot,tmp,etc,lib/modules}
	install -m 0755 "$BUSYBOX" "$I/bin/busybox"
	for a in "${ALK_INITRD_APPLETS[@]}"; do ln -s busybox "$I/bin/$a"; done
	# The kernel opens /dev/console for /init before anything is mounted.
	mknod -m 0600 "$I/dev/console" c 5 1
	mknod -m 0666 "$I/dev/null" c 1 3
	ln -s /proc/mounts "$I/etc/mtab"
	# resize2fs with its shared libraries and the dynamic loader, at the same paths.
	install -D -m 0755 /usr/sbin/resize2fs "$I/bin/resize2fs"
	while read -r lib; do
		[ -n "$lib" ] || continue
		install -D -m 0755 "$(realpath -e "$lib")" "$I$lib"
	done < <(ldd /usr/sbin/resize2fs | grep -o '/[^ ]*')
	# Modules, in dependency order, decompressed (busybox insmod takes plain .ko).
	local -a load=()
	add_module() {
		local src=$1 base mod x
		base=${src##*/}
		mod=${base%%.ko*}
		for x in "${load[@]}"; do [ "${x#\?}" = "$mod" ] && return 0; done
		case $base in
		*.ko) install -m 0644 "$src" "$I/lib/modules/$mod.ko" ;;
		*.ko.xz) need xz xz-utils; xz -dc "$src" >"$I/lib/modules/$mod.ko" ;;
		*.ko.zst) need zstd zstd; zstd -qdc "$src" >"$I/lib/modules/$mod.ko" ;;
		*.ko.gz) gzip -dc "$src" >"$I/lib/modules/$mod.ko" ;;
		*) die "unknown module file type: $src" ;;
		esac
		# CPU-specific accelerations (crc32c-intel needs SSE4.2, which TCG's
		# CPU may lack) are tried; the generic fallback is loaded anyway.
		case $src in
		*/arch/x86/crypto/*) load+=("?$mod") ;;
		*) load+=("$mod") ;;
		esac
	}
	for m in "${ALK_MODULES[@]}"; do
		deps=$(modprobe -S "$KVER" --show-depends "$m" 2>&1) ||
			die "kernel $KVER has no module '$m': $deps"
		while read -r kind path _; do
			case $kind in
			insmod) add_module "$path" ;;
			builtin) ;; # compiled into the kernel: nothing to load
			*) die "unexpected modprobe output for $m: $kind $path" ;;
			esac
		done <<<"$deps"
	done
	sed -e "s|@MODULES@|${load[*]}|" -e "s|@INIT@|$init|g" "$ALK_LIB/init.in" >"$I/init"
	chmod 0755 "$I/init"
	(cd "$I" && find . -print0 | LC_ALL=C sort -z |
		cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
		gzip -9 -n >"$out"
	rm -rf -- "$I"
}

# make_rootfs ROOT OUT MIN_MIB [SIZE_MIB]: ROOT as an ext4 (mke2fs -d keeps
# owners, modes, hard links, symlinks, device nodes and xattrs) in a qcow2.
# Size: SIZE_MIB if given (refused when the contents do not fit), else MIN_MIB
# or twice the contents plus slack if they are bigger. Sets SIZE_MIB.
make_rootfs() {
	local root=$1 out=$2 min=$3 want=${4:-} used
	used=$(du -sm "$root" | cut -f1)
	if [ -n "$want" ]; then
		[ $((used + used / 8 + 16)) -le "$want" ] ||
			die "--size $want MiB is too small for ${used} MiB of files (need about $((used + used / 8 + 16)))"
		SIZE_MIB=$want
	else
		SIZE_MIB=$min
		if [ $((used * 2 + 16)) -gt "$SIZE_MIB" ]; then
			SIZE_MIB=$(((used * 2 + 16 + 15) / 16 * 16))
		fi
	fi
	# Inodes are fixed per block group at mkfs time and stay so when the guest
	# grows the fs: 8192 per 128 MiB group = one inode per 16 KiB once grown.
	local -a inodes
	if [ "$SIZE_MIB" -le 128 ]; then inodes=(-N 8192); else inodes=(-i 16384); fi
	truncate -s "${SIZE_MIB}M" "$out.raw"
	mke2fs -q -F -t ext4 -b 4096 -I 256 "${inodes[@]}" -m 0 -L airlock-root \
		-E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 \
		-d "$root" "$out.raw"
	qemu-img convert -q -f raw -O qcow2 "$out.raw" "$out"
	rm -f -- "$out.raw"
}

# put_agent ROOT: the agent as ROOT/sbin/airlock-agent, every path component
# resolved inside ROOT (an image's own symlinks never lead the host outside it).
put_agent() {
	python3 "$ALK_HELPER" put "$1" sbin/airlock-agent "$AGENT" 0755
}

# write_recipe FILE SOURCE_JSON [EXTRA_JSON]: recipe.json for airlock-image, from
# SIZE_MIB, KVER, the agent and the command line; EXTRA_JSON's members are added
# (default_user, exec).
write_recipe() {
	R_SIZE=$SIZE_MIB R_KVER=$KVER R_AV=$(agent_version) R_SHA=$AGENT_SHA R_KERNEL=${KERNEL_FILE:-vmlinuz} \
		R_CMDLINE=$ALK_CMDLINE R_SRC=$2 R_EXTRA=${3:-'{}'} python3 -c '
import json, os, sys
e = os.environ
r = {"rootfs_virtual_mib": int(e["R_SIZE"]), "cmdline": e["R_CMDLINE"], "kernel": e["R_KERNEL"],
     "kernel_version": e["R_KVER"], "agent_version": e["R_AV"],
     "agent_sha256": e["R_SHA"], "source": json.loads(e["R_SRC"])}
r.update(json.loads(e["R_EXTRA"]))
json.dump(r, open(sys.argv[1], "w"))' "$1"
}
