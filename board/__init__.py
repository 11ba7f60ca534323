"""The emulated DPU: QEMU boards assembled from Debian packages (image.py)
and booted for the board tests (qemu.py). See board/README.md."""
