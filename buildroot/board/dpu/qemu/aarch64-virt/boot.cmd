# A/B boot for RAUC's uboot backend (dpu_qemu_aarch64_virt_defconfig),
# built into boot.scr. The environment (uboot.env on the boot partition,
# /etc/fw_env.config on Linux) holds BOOT_ORDER (first slot first) and
# BOOT_<slot>_LEFT, the tries a slot has left: each boot uses one, RAUC's
# mark-good and mark-active give back boot-attempts (3, system.conf). A
# trial image that never comes up (crash, hang reset by the watchdog, power
# cut) falls back to the other slot by itself.
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 0

setenv bootpart
setenv raucslot
for BOOT_SLOT in "${BOOT_ORDER}"; do
	if test -z "${raucslot}" && test "x${BOOT_SLOT}" = "xA" && test ${BOOT_A_LEFT} -gt 0; then
		setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
		setenv bootpart 2
		setenv raucslot A
	fi
	if test -z "${raucslot}" && test "x${BOOT_SLOT}" = "xB" && test ${BOOT_B_LEFT} -gt 0; then
		setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
		setenv bootpart 3
		setenv raucslot B
	fi
done

if test -z "${raucslot}"; then
	# no slot left: a box that cannot be reached must not stop here
	echo "no slot has tries left: fresh tries for ${BOOT_ORDER}"
	setenv BOOT_A_LEFT 3
	setenv BOOT_B_LEFT 3
	saveenv
	reset
fi
saveenv

echo "booting slot ${raucslot} (partition ${bootpart})"
setenv bootargs "root=/dev/vda${bootpart} rootwait console=ttyAMA0 rauc.slot=${raucslot}"
load virtio 0:${bootpart} ${kernel_addr_r} /boot/Image
booti ${kernel_addr_r} - ${fdtcontroladdr}
# no kernel there (an empty or erased slot): its tries are gone
echo "slot ${raucslot} does not boot"
setenv BOOT_${raucslot}_LEFT 0
saveenv
reset
