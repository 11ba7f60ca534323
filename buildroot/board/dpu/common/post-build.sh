#!/bin/sh
#
# Factory defaults for dpu-agent, written into the target's root file system
# at build time: "dpu-agent provision" runs on the build host (the
# checkout's .venv, or $DPU_AGENT) against the YANG modules the image ships.
# Site-specific arguments (the operator's managers, ...) come from
# $DPU_AGENT_PROVISION_ARGS.
#

set -e

TARGET_DIR="$1"
DPU_AGENT="${DPU_AGENT:-${BR2_EXTERNAL_DPU_AGENT_PATH}/../.venv/bin/dpu-agent}"

if [ ! -x "$DPU_AGENT" ]; then
	echo "post-build: no $DPU_AGENT: run 'make .venv/.installed' in the dpu-agent checkout, or set DPU_AGENT" >&2
	exit 1
fi

# shellcheck disable=SC2086 # we need the word splitting
"$DPU_AGENT" provision --root "$TARGET_DIR" --state-dir /var/lib/dpu-agent \
	--yang-dir "$TARGET_DIR/usr/share/dpu-agent/yang" $DPU_AGENT_PROVISION_ARGS
