#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The airlock "debian" image recipe, as images/airlock-image runs it:
#   build.sh --stamp|--stage DIR --agent PATH [--suite S] [--packages P,...]
#            [--user NAME] [--size MIB] [--kernel cloud|generic]
#
# A Debian root from packages with mmdebstrap (--variant=apt: Essential
# packages, apt, and what --packages names), fetched through the mirrors the
# host's apt uses (/etc/apt/sources.list*) and nothing else; the agent as
# /sbin/airlock-agent, PID 1 (no systemd); a non-root user (default `agent`,
# uid 1000, home /home/agent) recorded as the image's default user; the host's
# kernel of the chosen flavour with our initramfs (images/lib/init.in).
set -euo pipefail
umask 022
export LC_ALL=C

HERE=$(dirname "$(realpath -e "${BASH_SOURCE[0]}")")
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"

AGENT='' MODE='' STAGE='' SUITE=bookworm PACKAGES='' USER_NAME=agent SIZE='' KERNEL=cloud
while [ $# -gt 0 ]; do
	case $1 in
	--agent) AGENT=$2; shift 2 ;;
	--stamp) MODE=stamp; shift ;;
	--stage) MODE=stage; STAGE=$2; shift 2 ;;
	--suite) [ $# -ge 2 ] || die "--suite needs a value"; SUITE=$2; shift 2 ;;
	--packages) [ $# -ge 2 ] || die "--packages needs a list"; PACKAGES=$2; shift 2 ;;
	--user) [ $# -ge 2 ] || die "--user needs a name"; USER_NAME=$2; shift 2 ;;
	--size) [ $# -ge 2 ] || die "--size needs MiB"; SIZE=$2; shift 2 ;;
	--kernel) [ $# -ge 2 ] || die "--kernel needs cloud or generic"; KERNEL=$2; shift 2 ;;
	*) die "unknown argument '$1' (debian: --suite --packages --user --size --kernel)" ;;
	esac
done
[ -n "$MODE" ] || die "run by airlock-image: airlock-image build debian NAME ..."

[[ $SUITE =~ ^[a-z][a-z0-9-]{0,31}$ ]] || die "invalid suite '$SUITE'"
if ! [[ $USER_NAME =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || [ "$USER_NAME" = root ]; then
	die "invalid --user '$USER_NAME' (a lowercase name, not root)"
fi
[ -z "$SIZE" ] || [[ $SIZE =~ ^[1-9][0-9]{0,6}$ ]] || die "--size must be MiB, 1 to 9999999"
case $KERNEL in cloud | generic) ;; *) die "--kernel must be cloud or generic" ;; esac
# Debian package names (policy 5.6.1), sorted and deduplicated: the stamp must
# not depend on the order they were given in.
PKGS=()
if [ -n "$PACKAGES" ]; then
	IFS=, read -r -a PKGS <<<"$PACKAGES"
	for p in "${PKGS[@]}"; do
		[[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die "invalid package name '$p'"
	done
	mapfile -t PKGS < <(printf '%s\n' "${PKGS[@]}" | sort -u)
fi

need_common_tools
need mmdebstrap mmdebstrap
check_agent "$AGENT"
pick_kernel "$KERNEL"
MIRRORS=$(python3 "$ALK_HELPER" sources "$SUITE")

if [ "$MODE" = stamp ]; then
	printf 'recipe=debian %s\n' "$(sha "$HERE/build.sh")"
	printf 'suite=%s\npackages=%s\nuser=%s\nsize=%s\nkernel=%s\n' "$SUITE" "${PKGS[*]}" \
		"$USER_NAME" "$SIZE" "$KERNEL"
	printf 'mirror=%s\n' "$MIRRORS"
	common_stamp
	exit 0
fi

R=$STAGE/root
mapfile -t MIRROR_LINES <<<"$MIRRORS"
INCLUDE=$(IFS=,; echo "${PKGS[*]}")
log "debian: mmdebstrap $SUITE${INCLUDE:+ +$INCLUDE} (from ${MIRROR_LINES[0]#deb })"
t0=$(date +%s)
# Documentation and translations are left out: nobody reads them in a sandbox.
mmdebstrap --quiet --mode=root --variant=apt --format=directory \
	${INCLUDE:+--include="$INCLUDE"} \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	"$SUITE" "$R" "${MIRROR_LINES[@]}" >&2
log "debian: mmdebstrap took $(($(date +%s) - t0)) s"

log "debian: agent, user $USER_NAME, hostname"
put_agent "$R"
# The default user, written straight into the files (passwd is not Essential).
grep -q "^$USER_NAME:" "$R/etc/passwd" && die "user '$USER_NAME' already exists in the image"
grep -q '^[^:]*:[^:]*:1000:' "$R/etc/passwd" && die "uid 1000 is taken in the image"
echo "$USER_NAME:x:1000:1000:airlock default user:/home/$USER_NAME:/bin/bash" >>"$R/etc/passwd"
echo "$USER_NAME:x:1000:" >>"$R/etc/group"
echo "$USER_NAME:!:19000:0:99999:7:::" >>"$R/etc/shadow"
install -d -m 0755 -o 1000 -g 1000 "$R/home/$USER_NAME"
echo airlock >"$R/etc/hostname"
cat >"$R/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	airlock
::1	localhost ip6-localhost ip6-loopback
EOF
# No init system: the agent is PID 1 (docs/images.md says what that means).
rm -f -- "$R/etc/machine-id"
: >"$R/etc/machine-id"

log "debian: initramfs for kernel $KVER"
build_initramfs "$STAGE" "$STAGE/initrd.img" /sbin/airlock-agent
install_kernel "$STAGE"
log "debian: root filesystem ($(du -sm "$R" | cut -f1) MiB of files)"
make_rootfs "$R" "$STAGE/rootfs.qcow2" 256 "$SIZE"
rm -rf --one-file-system -- "$R"
SRC=$(python3 -c 'import json, sys; print(json.dumps({"kind": "debian", "suite": sys.argv[1],
      "packages": sys.argv[2:]}))' "$SUITE" "${PKGS[@]}")
write_recipe "$STAGE/recipe.json" "$SRC" "{\"default_user\":\"$USER_NAME\"}"
