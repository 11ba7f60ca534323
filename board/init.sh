#!/bin/sh
# /init of the board's initramfs: load the drivers, bring up eth0 (QEMU user
# networking: the host is 10.0.2.2), build the root filesystem and hand over
# to busybox init, as the firmware's init would run.
#
# The root is the Debian tree from the host (9p "rootfs", read-only) under a
# tmpfs overlay, with three more 9p shares: "agent" (this checkout, read-only)
# at /opt/dpu-agent, "yang" (the standard YANG modules, read-only) at
# /usr/share/dpu-agent/yang and "run" (the test's directory, read-write) at
# /mnt/run. /mnt/run/state becomes /var/lib/dpu-agent, /mnt/run/default
# becomes /etc/default/dpu-agent.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "BOARD: init $(uname -m) $(uname -r)"
cmdline=" $(cat /proc/cmdline) "

# "board.boot_watchdog=SECONDS": the watchdog runs from boot, as a boot loader
# that arms the SoC's watchdog leaves it; the agent must take it over in time
boot_watchdog=$(echo "$cmdline" | sed -n 's/.* board\.boot_watchdog=\([0-9]*\) .*/\1/p')
for m in $(cat /etc/modules); do
	params=""
	[ "$m" = i6300esb.ko ] && [ -n "$boot_watchdog" ] && params="heartbeat=$boot_watchdog"
	# shellcheck disable=SC2086 # no parameters: no word
	insmod "/lib/modules/$m" $params || echo "BOARD: insmod $m failed"
done
if [ -n "$boot_watchdog" ]; then
	# opened and closed without the magic "V": it keeps running
	echo 1 >/dev/watchdog && echo "BOARD: watchdog armed for ${boot_watchdog}s"
fi

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

ro9p="trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose"
mount -t 9p -o "$ro9p" rootfs /lower || { echo "BOARD: no root filesystem"; poweroff -f; }
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot

cd /newroot || exit 1
mkdir -p opt/dpu-agent usr/share/dpu-agent/yang mnt/run var/lib/dpu-agent var/run var/log etc/default
# "rauc.slot=A|B" (the A/B boards, board/bootloader.py): the agent comes from
# that slot's squashfs image (A on /dev/vdb, B on /dev/vdc), not the checkout
slot=$(echo "$cmdline" | sed -n 's/.* rauc\.slot=\([AB]\) .*/\1/p')
if [ -n "$slot" ]; then
	dev=/dev/vdb
	[ "$slot" = B ] && dev=/dev/vdc
	if ! mount -t squashfs -o ro "$dev" opt/dpu-agent; then
		# as a boot loader that finds no kernel: this boot is used up
		echo "BOARD: slot $slot holds no image"
		reboot -f
	fi
	echo "BOARD: slot $slot"
else
	mount -t 9p -o "$ro9p" agent opt/dpu-agent
fi
mount -t 9p -o "$ro9p" yang usr/share/dpu-agent/yang
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 run mnt/run
mkdir -p mnt/run/state
mount --bind mnt/run/state var/lib/dpu-agent
[ -f mnt/run/default ] && cp mnt/run/default etc/default/dpu-agent
# RAUC's slot status (persistent) and the vendor's keyring (the factory's)
mkdir -p mnt/run/rauc var/lib/rauc etc/rauc
mount --bind mnt/run/rauc var/lib/rauc
[ -f mnt/run/keyring.pem ] && cp mnt/run/keyring.pem etc/rauc/keyring.pem
if [ -n "$slot" ]; then
	# the data partition (/dev/vdd, ext4) holds the agent's firmware dir:
	# the bundle it downloads, which RAUC then reads (RAUC trusts no bundle on 9p)
	mkdir -p var/lib/dpu-agent/firmware
	mount -t ext4 /dev/vdd var/lib/dpu-agent/firmware || echo "BOARD: no data partition"
fi

mount --move /proc proc
mount --move /sys sys
mount --move /dev dev
# busybox applets where Debian's tree has no program of that name
chroot /newroot /bin/busybox --install -s
cp -a /skeleton/. /newroot/
cp opt/dpu-agent/buildroot/package/dpu-agent/S50dpu-agent etc/init.d/S50dpu-agent
chmod 0755 etc/init.d/S50dpu-agent # 0644 in the checkout, as Buildroot's check-package wants
# "board.agent=off": the init script is there but not run at boot
case "$cmdline" in
*" board.agent=off "*) chmod -x etc/init.d/S50dpu-agent ;;
esac
echo "BOARD: switching root"
exec switch_root /newroot /sbin/init
