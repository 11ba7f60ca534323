################################################################################
#
# dpu-python-libyang
#
################################################################################

# The version Buildroot 2026.08 ships, which builds against libyang 3
DPU_PYTHON_LIBYANG_VERSION = 3.3.0
DPU_PYTHON_LIBYANG_SOURCE = libyang-$(DPU_PYTHON_LIBYANG_VERSION).tar.gz
DPU_PYTHON_LIBYANG_SITE = https://files.pythonhosted.org/packages/source/l/libyang
DPU_PYTHON_LIBYANG_LICENSE = MIT
DPU_PYTHON_LIBYANG_LICENSE_FILES = LICENSE
DPU_PYTHON_LIBYANG_SETUP_TYPE = setuptools
DPU_PYTHON_LIBYANG_DEPENDENCIES = \
	libyang \
	host-python-cffi

# a package only where Buildroot has no python-libyang of its own (before
# 2026.08): dpu-agent selects both, and only one of them exists
ifeq ($(wildcard $(TOPDIR)/package/python-libyang/python-libyang.mk),)
$(eval $(python-package))
endif

# for host-dpu-agent (Buildroot's python-libyang has no host variant)
HOST_DPU_PYTHON_LIBYANG_DEPENDENCIES = \
	host-libyang \
	host-python-cffi

$(eval $(host-python-package))
