#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the airlock "minimal" guest image: Debian's cloud kernel, an initramfs
# that loads only the virtio modules, grows the root filesystem and switches to
# it, and an ext4 root of busybox + the guest agent (PID 1) as a qcow2 base.
#
#   images/minimal/build.sh --agent PATH [--out DIR] [--name NAME] [--force]
#
# Output (DIR, default /var/lib/airlock/images/NAME, NAME default "minimal"):
#   vmlinuz  initrd.img  rootfs.qcow2  image.json
# All root-owned 0444, DIR 0755. The image is built in a temporary directory
# next to DIR and renamed into place, so a half-built image is never visible.
# A re-run exits early when its inputs (this script, the agent, the kernel,
# busybox, resize2fs) are unchanged; --force rebuilds anyway.
#
# See images/minimal/README.md for the boot sequence and the measurements
# behind the choices below.
set -euo pipefail
umask 022
export LC_ALL=C

PROG=${0##*/}

# --- tunables (part of the stamp, since this file is) -------------------------
# Virtual size of the base ext4 in MiB; grown when the contents need more.
BASE_MIB=64
# Kernel command line written to image.json. panic=-1: the cloud kernel has
# CONFIG_PANIC_TIMEOUT=0, and a panic must end the domain (on_reboot=destroy).
# quiet: every console byte costs under TCG. cryptomgr.notests: skips the
# crypto self-tests, ~0.5-0.8 s of a ~3.5 s TCG boot (measured; tsc=reliable
# and mitigations=off were measured too and gave nothing). root= and rw only
# document what the initramfs does; it mounts /dev/vda itself.
CMDLINE="console=ttyS0 panic=-1 quiet cryptomgr.notests root=/dev/vda rw"
# Modules the initramfs loads, in this order (their dependencies are added first
# as modprobe resolves them; built-in ones are skipped). pvpanic_mmio drives the
# domain's <panic model='isa'/> device, so a guest kernel panic reaches libvirt as
# a crash rather than looking like a reboot.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	virtio_console virtio_blk failover net_failover virtio_net pvpanic_mmio)
# Applets the initramfs /init uses.
INITRD_APPLETS=(sh mount umount insmod sleep echo cat poweroff switch_root tail)
BUSYBOX=/bin/busybox

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

usage() {
	cat <<EOF
usage: $PROG --agent PATH [--out DIR] [--name NAME] [--force]

Builds the minimal airlock guest image into DIR
(default /var/lib/airlock/images/NAME, NAME default "minimal").

  --agent PATH  static guest agent binary; becomes /sbin/init (PID 1)
  --out DIR     output directory (replaced atomically)
  --name NAME   image name written to image.json
  --force       rebuild even when the image is up to date
EOF
}

# --- arguments ----------------------------------------------------------------
AGENT=''
OUT=''
NAME=minimal
FORCE=0
while [ $# -gt 0 ]; do
	case $1 in
	--agent) [ $# -ge 2 ] || die "--agent needs a path"; AGENT=$2; shift 2 ;;
	--agent=*) AGENT=${1#*=}; shift ;;
	--out) [ $# -ge 2 ] || die "--out needs a directory"; OUT=$2; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	--name) [ $# -ge 2 ] || die "--name needs a value"; NAME=$2; shift 2 ;;
	--name=*) NAME=${1#*=}; shift ;;
	--force) FORCE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done

[ -n "$AGENT" ] || { usage >&2; die "--agent PATH is required"; }
# The daemon's rule (daemon/virt/alk-image.c): [a-z0-9_-], 1 to 32 characters.
[[ $NAME =~ ^[a-z0-9_-]{1,32}$ ]] ||
	die "invalid image name '$NAME' (lowercase letters, digits, '_' and '-'; at most 32)"
OUT=${OUT:-/var/lib/airlock/images/$NAME}

[ "$(id -u)" -eq 0 ] || die "must run as root (the image files are root-owned)"

# --- tools --------------------------------------------------------------------
need() { # need TOOL PACKAGE
	command -v "$1" >/dev/null 2>&1 ||
		die "missing tool '$1': install it with 'apt-get install $2'"
}
need modprobe kmod
need mke2fs e2fsprogs
need qemu-img qemu-utils
need cpio cpio
need gzip gzip
need sha256sum coreutils
need ldd libc-bin
need flock util-linux
need runuser util-linux
need setpriv util-linux
[ -x /usr/sbin/resize2fs ] || die "missing /usr/sbin/resize2fs: install it with 'apt-get install e2fsprogs'"
[ -x "$BUSYBOX" ] || die "missing $BUSYBOX: install it with 'apt-get install busybox-static'"
# The dynamic "busybox" package would need libc in the guest: insist on static.
is_dynamic() { # ELF with shared-library dependencies?
	local out
	out=$(ldd "$1" 2>&1 || true)
	[[ $out == *'=>'* ]]
}
if is_dynamic "$BUSYBOX"; then
	die "$BUSYBOX is dynamically linked: install it with 'apt-get install busybox-static'"
fi

# --- agent --------------------------------------------------------------------
[ -e "$AGENT" ] || die "agent '$AGENT' does not exist (build it first: cmake --build build)"
[ -f "$AGENT" ] || die "agent '$AGENT' is not a regular file"
[ -x "$AGENT" ] || die "agent '$AGENT' is not executable"
AGENT=$(realpath -e "$AGENT")
head -c 4 "$AGENT" | grep -q 'ELF' || die "agent '$AGENT' is not an ELF binary"
# The root filesystem has no libc: the agent must be static.
if is_dynamic "$AGENT"; then
	die "agent '$AGENT' is dynamically linked; it must be static (musl-gcc -static)"
fi

# --- kernel -------------------------------------------------------------------
shopt -s nullglob
KERNELS=(/boot/vmlinuz-*-cloud-amd64)
shopt -u nullglob
[ ${#KERNELS[@]} -gt 0 ] ||
	die "no cloud kernel in /boot: install it with 'apt-get install linux-image-cloud-amd64'"
VMLINUZ=$(printf '%s\n' "${KERNELS[@]}" | sort -V | tail -n 1)
KVER=${VMLINUZ#/boot/vmlinuz-}
[ -r "$VMLINUZ" ] || die "cannot read $VMLINUZ"
[ -d "/lib/modules/$KVER" ] ||
	die "kernel $KVER has no /lib/modules/$KVER: reinstall linux-image-$KVER"

# --- output location ----------------------------------------------------------
OUT=$(realpath -m "$OUT")
[ "$OUT" != / ] || die "refusing to use / as the output directory"
PARENT=$(dirname "$OUT")
mkdir -p "$PARENT" || die "cannot create $PARENT"
[ -d "$PARENT" ] || die "$PARENT is not a directory"
# QEMU runs as libvirt-qemu and opens the kernel, initrd and base itself.
if id libvirt-qemu >/dev/null 2>&1; then
	runuser -u libvirt-qemu -- test -x "$PARENT" ||
		die "$PARENT is not traversable by libvirt-qemu (every directory on the path needs o+x)"
fi

# One build per output directory at a time: lock the parent directory itself.
exec 9<"$PARENT"
flock 9

# --- stamp: everything the image depends on -----------------------------------
sha() { sha256sum "$1" | cut -d' ' -f1; }
AGENT_SHA=$(sha "$AGENT")
SELF=$(realpath -e "${BASH_SOURCE[0]}")
STAMP=$(
	printf 'name=%s\n' "$NAME"
	printf 'build.sh=%s\n' "$(sha "$SELF")"
	printf 'agent=%s\n' "$AGENT_SHA"
	printf 'kernel=%s %s\n' "$KVER" "$(sha "$VMLINUZ")"
	printf 'busybox=%s %s\n' "$("$BUSYBOX" 2>&1 | head -n 1)" "$(sha "$BUSYBOX")"
	printf 'resize2fs=%s\n' "$(sha /usr/sbin/resize2fs)"
)
STAMP=$(printf '%s' "$STAMP" | sha256sum | cut -d' ' -f1)

if [ "$FORCE" -eq 0 ] && [ -f "$OUT/image.json" ] &&
	grep -q "\"build_stamp\":\"$STAMP\"" "$OUT/image.json" &&
	[ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] && [ -f "$OUT/rootfs.qcow2" ]; then
	echo "image $NAME is up to date ($OUT)"
	exit 0
fi

# --- work area (same filesystem as OUT, so the final rename is atomic) --------
WORK=$(mktemp -d "$PARENT/.$NAME.build.XXXXXX")
PROBE=
cleanup() { rm -rf -- "$WORK" ${PROBE:+"$PROBE"}; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
IMG=$WORK/image
mkdir -m 0755 "$IMG"

log "building image $NAME (kernel $KVER) in $OUT"

# --- agent version (run unprivileged: a PID-1 program may mount or power off) -
AGENT_VERSION=unknown
PROBE=$(mktemp -d /tmp/airlock-agent-probe.XXXXXX)
chmod 0755 "$PROBE"
install -m 0755 "$AGENT" "$PROBE/agent"
# setpriv execs (runuser would fork), so the timeout kills the agent itself.
if (cd / && timeout -s KILL 5 setpriv --reuid=65534 --regid=65534 --clear-groups \
	--no-new-privs -- "$PROBE/agent" --version </dev/null >"$PROBE/out" 2>/dev/null); then
	# Printable ASCII, at most 64 characters: what the daemon accepts.
	v=$(head -n 1 "$PROBE/out" | tr -cd '[:print:]' | cut -c 1-64)
	[ -z "$v" ] || AGENT_VERSION=$v
fi
rm -rf -- "$PROBE"

# --- initramfs ----------------------------------------------------------------
I=$WORK/initramfs
mkdir -p "$I"/{bin,dev,proc,sys,newroot,tmp,etc,lib/modules}
install -m 0755 "$BUSYBOX" "$I/bin/busybox"
for a in "${INITRD_APPLETS[@]}"; do ln -s busybox "$I/bin/$a"; done
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
LOAD=()
add_module() { # add_module PATH
	local src=$1 base mod
	base=${src##*/}
	mod=${base%%.ko*}
	local m
	for m in "${LOAD[@]}"; do [ "$m" = "$mod" ] && return 0; done
	case $base in
	*.ko) install -m 0644 "$src" "$I/lib/modules/$mod.ko" ;;
	*.ko.xz) need xz xz-utils; xz -dc "$src" >"$I/lib/modules/$mod.ko" ;;
	*.ko.zst) need zstd zstd; zstd -qdc "$src" >"$I/lib/modules/$mod.ko" ;;
	*.ko.gz) gzip -dc "$src" >"$I/lib/modules/$mod.ko" ;;
	*) die "unknown module file type: $src" ;;
	esac
	LOAD+=("$mod")
}
for m in "${MODULES[@]}"; do
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

# /init. @MODULES@ is substituted below; everything else is literal.
cat >"$I/init" <<'EOF'
#!/bin/sh
# airlock minimal initramfs /init, generated by images/minimal/build.sh.
# Loads the virtio modules, grows the root ext4 to fill the disk, switches to it.
# Any failure prints one "airlock-initramfs: ERROR:" line and powers off.
export PATH=/bin
fail() {
	echo "airlock-initramfs: ERROR: $*"
	poweroff -f
	sleep 5
	exit 1 # poweroff failed: PID 1 exiting panics, and panic=-1 reboots
}
mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "cannot mount devtmpfs on /dev"
for m in @MODULES@; do
	insmod "/lib/modules/$m.ko" || fail "cannot load module $m"
done
# Wait for the disk, bounded by the clock (a loop count would stretch: every
# sleep is a fork+exec, slow under TCG).
read -r up _ </proc/uptime
deadline=$((${up%.*} + 10))
while [ ! -b /dev/vda ]; do
	read -r up _ </proc/uptime
	[ "${up%.*}" -lt "$deadline" ] ||
		fail "no root disk /dev/vda after 10 s (attach a virtio disk as vda)"
	sleep 0.05
done
mount -t ext4 -o rw,noatime /dev/vda /newroot ||
	fail "cannot mount /dev/vda (ext4) on /newroot"
# Online grow to the size of the disk (the overlay's virtual size).
if ! resize2fs /dev/vda >/tmp/resize.log 2>&1; then
	fail "resize2fs /dev/vda failed: $(tail -n 1 /tmp/resize.log)"
fi
[ -x /newroot/sbin/init ] || fail "/sbin/init is missing or not executable on /dev/vda"
# The new init mounts /proc, /sys and /dev itself (mounting sysfs or devtmpfs
# again where it is already mounted would fail with EBUSY), so unmount them.
umount /proc /sys /dev || fail "cannot unmount /proc, /sys or /dev"
# Kernel command-line words the kernel did not consume are our "$@"; pass them
# on (and the environment, which carries its unconsumed key=value words).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo "airlock-initramfs: switching root"
exec switch_root /newroot /sbin/init "$@"
EOF
sed -i "s|@MODULES@|${LOAD[*]}|" "$I/init"
chmod 0755 "$I/init"

(cd "$I" && find . -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
	gzip -9 -n >"$IMG/initrd.img"

# --- root filesystem ----------------------------------------------------------
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,var/tmp,home,mnt}
chmod 1777 "$R/tmp" "$R/var/tmp"
chmod 0700 "$R/root"
install -m 0755 "$BUSYBOX" "$R/bin/busybox"
while read -r applet; do
	case $applet in
	bin/busybox | sbin/init | linuxrc) continue ;; # /sbin/init is the agent
	esac
	[ -e "$R/$applet" ] || [ -L "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done < <("$BUSYBOX" --list-full)
install -m 0755 "$AGENT" "$R/sbin/airlock-agent"
ln -s airlock-agent "$R/sbin/init"
ln -s /proc/mounts "$R/etc/mtab"
cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
echo airlock >"$R/etc/hostname"
cat >"$R/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	airlock
::1	localhost ip6-localhost ip6-loopback
EOF
cat >"$R/etc/profile" <<'EOF'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=${HOME:-/root}
export PS1='\u@\h:\w\$ '
umask 022
EOF

# Size: BASE_MIB, or twice the contents plus slack if they are bigger.
used_mib=$(du -sm "$R" | cut -f1)
SIZE_MIB=$BASE_MIB
if [ $((used_mib * 2 + 16)) -gt "$SIZE_MIB" ]; then
	SIZE_MIB=$(((used_mib * 2 + 16 + 15) / 16 * 16))
fi
# Inode count is fixed per block group at mkfs time and stays so when the
# guest grows the fs: 8192 per 128 MiB group = one inode per 16 KiB once grown.
if [ "$SIZE_MIB" -le 128 ]; then INODES=(-N 8192); else INODES=(-i 16384); fi
truncate -s "${SIZE_MIB}M" "$WORK/rootfs.raw"
mke2fs -q -F -t ext4 -b 4096 -I 256 "${INODES[@]}" -m 0 -L airlock-root \
	-E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 \
	-d "$R" "$WORK/rootfs.raw"
qemu-img convert -q -f raw -O qcow2 "$WORK/rootfs.raw" "$IMG/rootfs.qcow2"
rm -f "$WORK/rootfs.raw"

# --- kernel -------------------------------------------------------------------
install -m 0644 "$VMLINUZ" "$IMG/vmlinuz"

# --- image.json ---------------------------------------------------------------
json_str() { # JSON string literal of $1 (control characters dropped)
	local s
	s=$(printf '%s' "$1" | tr -d '\000-\037')
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}
{
	printf '{\n'
	printf '  "format_version":1,\n'
	printf '  "name":%s,\n' "$(json_str "$NAME")"
	printf '  "arch":"x86_64",\n'
	printf '  "kernel":"vmlinuz",\n'
	printf '  "initrd":"initrd.img",\n'
	printf '  "rootfs":"rootfs.qcow2",\n'
	printf '  "rootfs_virtual_mib":%d,\n' "$SIZE_MIB"
	printf '  "cmdline":%s,\n' "$(json_str "$CMDLINE")"
	printf '  "kernel_version":%s,\n' "$(json_str "$KVER")"
	printf '  "agent_version":%s,\n' "$(json_str "$AGENT_VERSION")"
	printf '  "agent_sha256":"%s",\n' "$AGENT_SHA"
	printf '  "built_at":"%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf '  "build_stamp":"%s"\n' "$STAMP"
	printf '}\n'
} >"$IMG/image.json"

chown 0:0 "$IMG" "$IMG"/*
chmod 0444 "$IMG"/*
chmod 0755 "$IMG"
sync -f "$IMG/rootfs.qcow2"

# --- into place ---------------------------------------------------------------
# rename(2) cannot replace a non-empty directory, so the old image moves aside
# first (QEMU processes that have its files open keep them) and is deleted.
if [ -e "$OUT" ] || [ -L "$OUT" ]; then
	users=$({ find /proc/[0-9]*/fd -lname "$OUT/*" 2>/dev/null || true; } |
		cut -d/ -f3 | sort -u | wc -l)
	[ "$users" -eq 0 ] ||
		log "note: $users running process(es) have the old image open; they keep it until they exit"
	mv -T -- "$OUT" "$WORK/old"
	if ! mv -T -- "$IMG" "$OUT"; then
		mv -T -- "$WORK/old" "$OUT" || true
		die "cannot move the new image into $OUT"
	fi
else
	mv -T -- "$IMG" "$OUT"
fi
if id libvirt-qemu >/dev/null 2>&1; then
	runuser -u libvirt-qemu -- test -r "$OUT/rootfs.qcow2" ||
		die "$OUT/rootfs.qcow2 is not readable by libvirt-qemu"
fi
log "image $NAME: $OUT (rootfs ${SIZE_MIB} MiB, agent $AGENT_VERSION)"
