################################################################################
#
# dpu-python-asyncssh
#
################################################################################

# host-dpu-agent's asyncssh (dpu-agent provision reads SSH public keys with
# it); Buildroot's python-asyncssh has no host variant. The version of
# Buildroot 2026.02's python-asyncssh.
DPU_PYTHON_ASYNCSSH_VERSION = 2.22.0
DPU_PYTHON_ASYNCSSH_SOURCE = asyncssh-$(DPU_PYTHON_ASYNCSSH_VERSION).tar.gz
DPU_PYTHON_ASYNCSSH_SITE = https://files.pythonhosted.org/packages/source/a/asyncssh
DPU_PYTHON_ASYNCSSH_SETUP_TYPE = setuptools
DPU_PYTHON_ASYNCSSH_LICENSE = EPL-2.0 or GPL-2.0+
DPU_PYTHON_ASYNCSSH_LICENSE_FILES = LICENSE COPYRIGHT
HOST_DPU_PYTHON_ASYNCSSH_DEPENDENCIES = \
	host-python-cryptography \
	host-python-typing-extensions

$(eval $(host-python-package))
