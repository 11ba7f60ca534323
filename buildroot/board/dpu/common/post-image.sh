#!/bin/sh
#
# The A/B disk image and the signed update bundle (dpu-rauc): run by
# Buildroot after the root file system is built, with the board's directory
# (board/dpu/qemu/<board>) as argument. In $BINARIES_DIR:
#   data.ext4     the partition both slots share, /var/lib/dpu-agent (what
#                 build-time provisioning wrote there, or empty)
#   boot.vfat     the boot loader's configuration and environment
#   disk.img      the board's disk (the board's genimage.cfg): boot, rootfs
#                 slot A (this image), rootfs slot B (empty), data
#   update.raucb  this rootfs as a RAUC bundle (verity format), signed with
#                 the key of BR2_PACKAGE_DPU_RAUC_SIGNING_KEY (or the
#                 development key) and checked against the image's keyring
#

set -e

BOARD_DIR="$2"
SIGNING="$BUILD_DIR/dpu-rauc/bundle-signing.env"
DATA_SIZE=64M

die() {
	echo "post-image: $*" >&2
	exit 1
}

[ -f "$BOARD_DIR/genimage.cfg" ] || die "no genimage.cfg in '$BOARD_DIR' (BR2_ROOTFS_POST_SCRIPT_ARGS)"
[ -r "$SIGNING" ] || die "no $SIGNING: is BR2_PACKAGE_DPU_RAUC set?"
# KEY, CERT, KEYRING, DEVELOPMENT, BUNDLE_VERSION (written by dpu-rauc.mk)
# shellcheck source=/dev/null
. "$SIGNING"

# GRUB's environment block: 1024 bytes, the variables, '#' up to the end
grubenv() {
	out="$1"
	shift
	{
		echo "# GRUB Environment Block"
		for var in "$@"; do
			echo "$var"
		done
	} >"$out.tmp"
	size=$(wc -c <"$out.tmp")
	[ "$size" -le 1024 ] || die "GRUB environment over 1024 bytes"
	head -c $((1024 - size)) /dev/zero | tr '\0' '#' >>"$out.tmp"
	mv "$out.tmp" "$out"
}

# the boot loader's files (U-Boot's boot.scr and uboot-env.bin are
# Buildroot's, host-uboot-tools)
if [ -f "$BOARD_DIR/grub.cfg" ]; then
	cp "$BOARD_DIR/grub.cfg" "$BINARIES_DIR/grub.cfg"
	# slot A holds the image and is good; B is empty
	grubenv "$BINARIES_DIR/grubenv" "ORDER=A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0
	if [ -f "$TARGET_DIR/lib/grub/i386-pc/boot.img" ]; then
		cp "$TARGET_DIR/lib/grub/i386-pc/boot.img" "$BINARIES_DIR/boot.img"
	fi
fi

# the data partition, from the target's /var/lib/dpu-agent (provisioned or
# not); the rootfs itself has it emptied (post-fakeroot.sh)
DATA_DIR="$TARGET_DIR/var/lib/dpu-agent"
EMPTY=$(mktemp -d)
trap 'rm -rf "$EMPTY"' EXIT
[ -d "$DATA_DIR" ] || DATA_DIR="$EMPTY"
rm -f "$BINARIES_DIR/data.ext4"
mkfs.ext4 -q -F -L data -E root_owner=0:0 -d "$DATA_DIR" "$BINARIES_DIR/data.ext4" "$DATA_SIZE"

rm -rf "$BUILD_DIR/genimage.tmp"
genimage \
	--rootpath "$EMPTY" \
	--tmppath "$BUILD_DIR/genimage.tmp" \
	--inputpath "$BINARIES_DIR" \
	--outputpath "$BINARIES_DIR" \
	--config "$BOARD_DIR/genimage.cfg"

# the update bundle: what an update writes into the other slot
COMPATIBLE=$(sed -n 's/^compatible=//p' "$TARGET_DIR/etc/rauc/system.conf")
[ -n "$COMPATIBLE" ] || die "no compatible= in $TARGET_DIR/etc/rauc/system.conf"
VERSION="${BUNDLE_VERSION:-$(date -u +%Y%m%d%H%M%S)}"
DESCRIPTION="dpu-agent firmware"
if [ "$DEVELOPMENT" = yes ]; then
	DESCRIPTION="$DESCRIPTION, signed with a DEVELOPMENT key (NOT FOR PRODUCTION)"
	echo "*** post-image: the bundle is signed with the DEVELOPMENT key $KEY: NOT FOR PRODUCTION ***" >&2
fi
CONTENT="$BUILD_DIR/dpu-rauc-bundle"
rm -rf "$CONTENT"
mkdir -p "$CONTENT"
# a link where it can be (the image is hundreds of MB), the file not the symlink
ln -L "$BINARIES_DIR/rootfs.ext4" "$CONTENT/rootfs.ext4" 2>/dev/null ||
	cp -L "$BINARIES_DIR/rootfs.ext4" "$CONTENT/rootfs.ext4"
cat >"$CONTENT/manifest.raucm" <<MANIFEST
[update]
compatible=$COMPATIBLE
version=$VERSION
description=$DESCRIPTION

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
MANIFEST
rm -f "$BINARIES_DIR/update.raucb"
rauc bundle --cert="$CERT" --key="$KEY" "$CONTENT" "$BINARIES_DIR/update.raucb"
rm -rf "$CONTENT"
# a bundle the image's own keyring rejects must not leave the build
rauc info --keyring="$KEYRING" "$BINARIES_DIR/update.raucb" >/dev/null ||
	die "update.raucb does not verify against $KEYRING"
echo "post-image: $BINARIES_DIR/disk.img and update.raucb ($COMPATIBLE $VERSION)"
