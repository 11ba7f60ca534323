#!/bin/sh
#
# Factory provisioning of the target's root file system at build time, when
# BR2_PACKAGE_DPU_AGENT_PROVISION is set: host-dpu-agent's "dpu-agent
# provision --root $TARGET_DIR", with the YANG modules the image ships and
# the arguments of BR2_PACKAGE_DPU_AGENT_PROVISION_ARGS. Device keys made
# here are in every box flashed with the image: provision an image per box
# (or for a lab), else provision each box on the line. The JSON report goes
# to $BINARIES_DIR/dpu-agent-provision.json. First, the mount points of
# the target's /etc/fstab are made (the A/B layout's boot and data
# partitions).
#

set -e

TARGET_DIR="$1"

if [ -f "$TARGET_DIR/etc/fstab" ]; then
	awk '$1 !~ /^#/ && $2 ~ /^\/./ { print $2 }' "$TARGET_DIR/etc/fstab" |
		while read -r dir; do
			mkdir -p "$TARGET_DIR$dir"
		done
fi

# a Kconfig string of the .config, unquoted and unescaped
kconfig_string() {
	sed -n "s/^$1=\"\(.*\)\"\$/\1/p" "$BR2_CONFIG" | sed 's/\\\(.\)/\1/g'
}

if ! grep -qx "BR2_PACKAGE_DPU_AGENT_PROVISION=y" "$BR2_CONFIG"; then
	echo "post-build: BR2_PACKAGE_DPU_AGENT_PROVISION is not set: the image is not provisioned" >&2
	exit 0
fi
ARGS=$(kconfig_string BR2_PACKAGE_DPU_AGENT_PROVISION_ARGS)
if [ -z "$ARGS" ]; then
	echo "post-build: BR2_PACKAGE_DPU_AGENT_PROVISION_ARGS is empty" >&2
	exit 1
fi

REPORT="$BINARIES_DIR/dpu-agent-provision.json"
# shellcheck disable=SC2086 # we need the word splitting
"$HOST_DIR/bin/dpu-agent" provision --root "$TARGET_DIR" $ARGS >"$REPORT.tmp"
mv "$REPORT.tmp" "$REPORT"
echo "post-build: provisioned $TARGET_DIR/var/lib/dpu-agent; report in $REPORT"
