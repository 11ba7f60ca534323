################################################################################
#
# python-libyang
#
################################################################################

PYTHON_LIBYANG_VERSION = 2.8.0
PYTHON_LIBYANG_SOURCE = libyang-$(PYTHON_LIBYANG_VERSION).tar.gz
# The sdist comes from a local directory that the builder fills with
#   pip download --no-deps --no-binary :all: libyang==2.8.0 -d DIR
# (this project names no package-registry host; the hash below checks it)
PYTHON_LIBYANG_SITE = $(call qstrip,$(BR2_PACKAGE_PYTHON_LIBYANG_SDIST_DIR))
PYTHON_LIBYANG_SITE_METHOD = file
PYTHON_LIBYANG_LICENSE = MIT
PYTHON_LIBYANG_LICENSE_FILES = LICENSE
PYTHON_LIBYANG_SETUP_TYPE = setuptools
PYTHON_LIBYANG_DEPENDENCIES = \
	libyang \
	host-python-cffi

$(eval $(python-package))
