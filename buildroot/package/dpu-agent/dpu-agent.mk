################################################################################
#
# dpu-agent
#
################################################################################

DPU_AGENT_VERSION = 0.1.0
DPU_AGENT_SITE = $(BR2_EXTERNAL_DPU_AGENT_PATH)/..
DPU_AGENT_SITE_METHOD = local
DPU_AGENT_LICENSE = MIT
DPU_AGENT_LICENSE_FILES = LICENSE
DPU_AGENT_SETUP_TYPE = setuptools
# the checkout holds more than the Python package
DPU_AGENT_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude .venv --exclude build --exclude tests \
	--exclude board --exclude buildroot --exclude bench

define DPU_AGENT_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(DPU_AGENT_PKGDIR)/S50dpu-agent \
		$(TARGET_DIR)/etc/init.d/S50dpu-agent
endef

define DPU_AGENT_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(DPU_AGENT_PKGDIR)/dpu-agent.service \
		$(TARGET_DIR)/usr/lib/systemd/system/dpu-agent.service
endef

# "dpu-agent provision" on the build host, run by the board's post-build
# script (BR2_PACKAGE_DPU_AGENT_PROVISION): the agent with what provisioning
# needs besides the agent's own dependencies (asyncssh, cryptography)
HOST_DPU_AGENT_DEPENDENCIES = \
	host-dpu-python-asyncssh \
	host-dpu-python-libyang \
	host-python-cbor2 \
	host-python-cffi \
	host-python-cryptography

ifeq ($(BR2_PACKAGE_DPU_AGENT_PROVISION),y)
DPU_AGENT_DEPENDENCIES += host-dpu-agent
endif

$(eval $(python-package))
$(eval $(host-python-package))
