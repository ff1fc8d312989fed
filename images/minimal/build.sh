#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The airlock "minimal" image recipe: Debian's cloud kernel, an initramfs that
# loads only the virtio modules, grows the root filesystem and switches to it,
# and an ext4 root of busybox + the guest agent (PID 1) as a qcow2 base.
#
#   images/minimal/build.sh --agent PATH [--name NAME] [--out DIR] [--force]
#       builds image NAME (default "minimal") with airlock-image into DIR
#       (default /var/lib/airlock/images/NAME; its last component must be NAME):
#       the same as `airlock-image build minimal NAME --agent PATH`.
#   images/minimal/build.sh --stamp|--stage DIR --agent PATH
#       the recipe itself, as images/airlock-image runs it (images/lib/common.sh).
#
# See images/minimal/README.md for the boot sequence and the measurements
# behind the choices below, docs/images.md for the image layout.
set -euo pipefail
umask 022
export LC_ALL=C

PROG=${0##*/}
HERE=$(dirname "$(realpath -e "${BASH_SOURCE[0]}")")
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"

# Virtual size of the base ext4 in MiB; grown when the contents need more.
BASE_MIB=64

usage() {
	cat <<EOF
usage: $PROG --agent PATH [--name NAME] [--out DIR] [--force]
       $PROG --stamp|--stage DIR --agent PATH      (as airlock-image runs it)

Builds the minimal airlock guest image NAME (default "minimal") into DIR
(default /var/lib/airlock/images/NAME) with airlock-image.

  --agent PATH  static guest agent binary; becomes /sbin/init (PID 1)
  --name NAME   image name
  --out DIR     the image's directory; its last component must be NAME
  --force       rebuild even when the image is up to date
EOF
}

AGENT='' OUT='' NAME=minimal FORCE=() MODE=image STAGE=''
while [ $# -gt 0 ]; do
	case $1 in
	--agent) [ $# -ge 2 ] || die "--agent needs a path"; AGENT=$2; shift 2 ;;
	--agent=*) AGENT=${1#*=}; shift ;;
	--out) [ $# -ge 2 ] || die "--out needs a directory"; OUT=$2; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	--name) [ $# -ge 2 ] || die "--name needs a value"; NAME=$2; shift 2 ;;
	--name=*) NAME=${1#*=}; shift ;;
	--force) FORCE=(--force); shift ;;
	--stamp) MODE=stamp; shift ;;
	--stage) [ $# -ge 2 ] || die "--stage needs a directory"; MODE=stage; STAGE=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done

if [ "$MODE" = image ]; then
	[ -n "$AGENT" ] || { usage >&2; die "--agent PATH is required"; }
	args=()
	if [ -n "$OUT" ]; then
		OUT=$(realpath -m "$OUT")
		[ "${OUT##*/}" = "$NAME" ] ||
			die "--out $OUT: the image directory's last component must be the name '$NAME'"
		args=(--image-dir "$(dirname "$OUT")")
	fi
	tool=$HERE/../airlock-image # the source tree; installed, the one in PATH
	[ -x "$tool" ] || tool=airlock-image
	exec "$tool" "${args[@]}" build minimal "$NAME" --agent "$AGENT" "${FORCE[@]}"
fi

need_common_tools
check_agent "$AGENT"
pick_kernel cloud

if [ "$MODE" = stamp ]; then
	printf 'recipe=minimal %s\n' "$(sha "$HERE/build.sh")"
	printf 'base_mib=%s\n' "$BASE_MIB"
	common_stamp
	exit 0
fi

# --- stage: everything lands in STAGE -----------------------------------------
[ -d "$STAGE" ] || die "stage directory $STAGE does not exist"
log "minimal: initramfs for kernel $KVER"
build_initramfs "$STAGE" "$STAGE/initrd.img" /sbin/init

log "minimal: root filesystem (busybox + agent)"
R=$STAGE/root
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
make_rootfs "$R" "$STAGE/rootfs.qcow2" "$BASE_MIB"
rm -rf -- "$R"
install_kernel "$STAGE"

write_recipe "$STAGE/recipe.json" '{"kind":"minimal"}'
