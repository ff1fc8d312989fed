#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The airlock "desktop" image recipe, as images/airlock-image runs it:
#   build.sh --stamp|--stage DIR --agent PATH [--suite S] [--packages P,...]
#            [--user NAME] [--size MIB]
#
# The debian recipe (images/debian/build.sh) with Debian's generic kernel (its
# virtio-gpu DRM driver, loaded by the initramfs), Xorg on that GPU with the
# modesetting driver, openbox, xterm, firefox-esr and the X utilities, and the
# files under root/: /etc/airlock/session, which the agent starts at boot
# (an X server on the emulated GPU, the default user's window manager and
# xterm). --packages adds to the list.
set -euo pipefail
HERE=$(dirname "$(realpath -e "${BASH_SOURCE[0]}")")

DESKTOP_PACKAGES=xserver-xorg-core,xserver-xorg-input-evdev,openbox,xterm,xfonts-base
DESKTOP_PACKAGES+=,x11-utils,x11-xserver-utils,fonts-dejavu-core,firefox-esr,procps
ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--packages) [ $# -ge 2 ] || { echo "--packages needs a list" >&2; exit 1; }
		DESKTOP_PACKAGES+=",$2"; shift 2 ;;
	--kernel | --modules | --overlay | --flavour)
		echo "$PROG: error: the desktop recipe sets $1 itself" >&2; exit 1 ;;
	*) ARGS+=("$1"); shift ;;
	esac
done
exec "$HERE/../debian/build.sh" "${ARGS[@]}" --kernel generic --packages "$DESKTOP_PACKAGES" \
	--modules virtio_gpu --overlay "$HERE/root" --flavour desktop
