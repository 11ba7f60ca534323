################################################################################
#
# python-libyang
#
################################################################################

PYTHON_LIBYANG_VERSION = 2.8.0
PYTHON_LIBYANG_SOURCE = libyang-$(PYTHON_LIBYANG_VERSION).tar.gz
PYTHON_LIBYANG_SITE = https://files.pythonhosted.org/packages/source/l/libyang
PYTHON_LIBYANG_LICENSE = MIT
PYTHON_LIBYANG_LICENSE_FILES = LICENSE
PYTHON_LIBYANG_SETUP_TYPE = setuptools
PYTHON_LIBYANG_DEPENDENCIES = \
	libyang \
	host-python-cffi

$(eval $(python-package))
