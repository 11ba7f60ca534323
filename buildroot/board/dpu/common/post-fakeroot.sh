#!/bin/sh
#
# The root file system leaves /var/lib/dpu-agent empty: it is the mount
# point of the data partition (post-image.sh puts what build-time
# provisioning wrote there into data.ext4), and the rootfs goes into every
# update bundle, where device keys must never be.
#

set -e

if [ -d "$1/var/lib/dpu-agent" ]; then
	find "$1/var/lib/dpu-agent" -mindepth 1 -delete
fi
