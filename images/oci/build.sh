#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The airlock OCI import recipe, as `airlock-image import NAME SOURCE` runs it:
#   build.sh --stamp|--stage DIR --agent PATH --source ARCHIVE|DIR [--size MIB]
#            [--max-layer-mib N] [--max-total-mib N]
#
# SOURCE: an OCI archive (`skopeo copy ... oci-archive:`, `podman save
# --format oci-archive`), a Docker archive (`docker save`, `podman save`) or an
# OCI layout directory. skopeo copies it into an OCI layout of ours; we check
# every digest and size in it and stream each layer through a counter with a
# cap (a decompression bomb stops at the cap, before anything is unpacked);
# umoci unpacks it (whiteouts, hard links, symlinks, modes, owners, xattrs and
# device nodes, every path resolved inside the root); the agent is added as
# /sbin/airlock-agent (PID 1). The image config's Env, WorkingDir, User and
# Entrypoint + Cmd are recorded as the image's exec defaults.
set -euo pipefail
umask 022
export LC_ALL=C

HERE=$(dirname "$(realpath -e "${BASH_SOURCE[0]}")")
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"

AGENT='' MODE='' STAGE='' SRC='' SIZE='' MAX_LAYER_MIB=2048 MAX_TOTAL_MIB=8192
while [ $# -gt 0 ]; do
	case $1 in
	--agent) AGENT=$2; shift 2 ;;
	--stamp) MODE=stamp; shift ;;
	--stage) MODE=stage; STAGE=$2; shift 2 ;;
	--source) SRC=$2; shift 2 ;;
	--size) [ $# -ge 2 ] || die "--size needs MiB"; SIZE=$2; shift 2 ;;
	--max-layer-mib) [ $# -ge 2 ] || die "--max-layer-mib needs MiB"; MAX_LAYER_MIB=$2; shift 2 ;;
	--max-total-mib) [ $# -ge 2 ] || die "--max-total-mib needs MiB"; MAX_TOTAL_MIB=$2; shift 2 ;;
	*) die "unknown argument '$1' (import: --size --max-layer-mib --max-total-mib)" ;;
	esac
done
[ -n "$MODE" ] || die "run by airlock-image: airlock-image import NAME ARCHIVE|DIR"
for v in "$MAX_LAYER_MIB" "$MAX_TOTAL_MIB" ${SIZE:+"$SIZE"}; do
	[[ $v =~ ^[1-9][0-9]{0,6}$ ]] || die "sizes are MiB, 1 to 9999999 (got '$v')"
done
MAX_LAYER=$((MAX_LAYER_MIB * 1024 * 1024))
MAX_TOTAL=$((MAX_TOTAL_MIB * 1024 * 1024))

need_common_tools
need skopeo skopeo
need umoci umoci
need tar tar
check_agent "$AGENT"
pick_kernel cloud

# What kind of source: a layout directory, an OCI archive or a Docker archive.
if [ -d "$SRC" ]; then
	if [ ! -f "$SRC/oci-layout" ] || [ ! -f "$SRC/index.json" ]; then
		die "$SRC is a directory but not an OCI layout (no oci-layout and index.json)"
	fi
	TRANSPORT=oci
	SRC_SIZE=$(du -sb "$SRC" | cut -f1)
elif [ -f "$SRC" ]; then
	SRC_SIZE=$(stat -c %s "$SRC")
	names=$(tar -tf "$SRC" 2>/dev/null | head -n 100000) ||
		die "$SRC is neither an OCI layout directory nor a tar archive"
	if grep -qx -e 'oci-layout' -e './oci-layout' <<<"$names"; then
		TRANSPORT=oci-archive
	elif grep -qx -e 'manifest.json' -e './manifest.json' <<<"$names"; then
		TRANSPORT=docker-archive
	else
		die "$SRC has neither oci-layout nor manifest.json: not an OCI or Docker archive"
	fi
else
	die "$SRC is not a file or a directory"
fi
[ "$SRC_SIZE" -le "$MAX_TOTAL" ] ||
	die "$SRC is $SRC_SIZE bytes, over the total limit of $MAX_TOTAL_MIB MiB (--max-total-mib)"

if [ "$MODE" = stamp ]; then
	printf 'recipe=oci %s\n' "$(sha "$HERE/build.sh")"
	printf 'source=%s:%s\n' "$TRANSPORT" "$SRC"
	if [ -d "$SRC" ]; then
		(cd "$SRC" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
	else
		printf 'archive=%s\n' "$(sha "$SRC")"
	fi
	printf 'size=%s limits=%s/%s\n' "$SIZE" "$MAX_LAYER_MIB" "$MAX_TOTAL_MIB"
	common_stamp
	exit 0
fi

W=$STAGE/work
mkdir -m 0700 "$W"
export TMPDIR=$W # skopeo unpacks an oci-archive under TMPDIR

log "import: copying $TRANSPORT:$SRC with skopeo"
# skopeo verifies each blob against its digest as it copies (a lying manifest
# fails here or in oci-check below).
skopeo --insecure-policy copy --quiet "$TRANSPORT:$SRC" "oci:$W/layout:img" >&2 ||
	die "skopeo could not read $SRC (see above)"

log "import: checking digests and sizes (layer limit $MAX_LAYER_MIB MiB, total $MAX_TOTAL_MIB MiB)"
LAYERS=$(python3 "$ALK_HELPER" oci-check "$W/layout" img "$MAX_LAYER" "$MAX_TOTAL" 2>"$W/check.err") ||
	die "$(sed 's/^[^:]*: error: //' "$W/check.err")"
# Uncompressed sizes: each layer streamed through a counter that stops at the cap.
total=0
i=0
while read -r kind path; do
	[ -n "$kind" ] || continue
	i=$((i + 1))
	case $kind in
	gzip) dec=(gzip -dc) ;;
	zstd) need zstd zstd; dec=(zstd -qdc) ;;
	tar) dec=(cat) ;;
	esac
	n=$({ "${dec[@]}" <"$path" 2>/dev/null || true; } | head -c $((MAX_LAYER + 1)) | wc -c)
	[ "$n" -le "$MAX_LAYER" ] ||
		die "layer $i unpacks to more than $MAX_LAYER_MIB MiB (--max-layer-mib): refused"
	total=$((total + n))
	[ "$total" -le "$MAX_TOTAL" ] ||
		die "the layers unpack to more than $MAX_TOTAL_MIB MiB in all (--max-total-mib): refused"
done <<<"$LAYERS"
log "import: $i layer(s), $((total / 1024 / 1024)) MiB unpacked"

log "import: unpacking with umoci"
umoci unpack --image "$W/layout:img" "$W/bundle" >&2 || die "umoci could not unpack the image (see above)"
R=$W/bundle/rootfs
put_agent "$R"

log "import: initramfs and root filesystem"
build_initramfs "$STAGE" "$STAGE/initrd.img" /sbin/airlock-agent
install_kernel "$STAGE"
make_rootfs "$R" "$STAGE/rootfs.qcow2" 64 "$SIZE"
CONF=$(python3 "$ALK_HELPER" oci-config "$W/layout" img)
rm -rf --one-file-system -- "$W"
SRC_JSON=$(C=$CONF python3 -c 'import json, os, sys
print(json.dumps({"kind": "oci", "reference": sys.argv[1], "digest": json.loads(os.environ["C"])["digest"]}))' \
	"$TRANSPORT:$SRC")
EXTRA=$(C=$CONF python3 -c 'import json, os
c = json.loads(os.environ["C"]); c.pop("digest"); print(json.dumps(c))')
write_recipe "$STAGE/recipe.json" "$SRC_JSON" "$EXTRA"
