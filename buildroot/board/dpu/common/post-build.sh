#!/bin/sh
#
# Factory provisioning of the target's root file system at build time:
# "dpu-agent provision --root $TARGET_DIR" runs on the build host (the
# checkout's .venv, or $DPU_AGENT) with the YANG modules the image ships.
# Its arguments come from $DPU_AGENT_PROVISION_ARGS, e.g.
#   DPU_AGENT_PROVISION_ARGS="--from /path/to/site.toml"
# Without them the image is not provisioned. Device keys made here are in
# every box flashed with the image: provision an image per box (or for a
# lab), else provision each box on the line. The JSON report goes to
# $BINARIES_DIR/dpu-agent-provision.json.
#

set -e

TARGET_DIR="$1"

if [ -z "$DPU_AGENT_PROVISION_ARGS" ]; then
	echo "post-build: DPU_AGENT_PROVISION_ARGS is empty: the image is not provisioned" >&2
	exit 0
fi

DPU_AGENT="${DPU_AGENT:-${BR2_EXTERNAL_DPU_AGENT_PATH}/../.venv/bin/dpu-agent}"
if [ ! -x "$DPU_AGENT" ]; then
	echo "post-build: no $DPU_AGENT: run 'make .venv/.installed' in the dpu-agent checkout, or set DPU_AGENT" >&2
	exit 1
fi

REPORT="${BINARIES_DIR:-$TARGET_DIR/..}/dpu-agent-provision.json"
# shellcheck disable=SC2086 # we need the word splitting
"$DPU_AGENT" provision --root "$TARGET_DIR" $DPU_AGENT_PROVISION_ARGS > "$REPORT.tmp"
mv "$REPORT.tmp" "$REPORT"
echo "post-build: provisioned $TARGET_DIR/var/lib/dpu-agent; report in $REPORT"
