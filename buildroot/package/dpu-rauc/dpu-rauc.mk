################################################################################
#
# dpu-rauc
#
################################################################################

# No source: the board's files and the keys, put where RAUC and the board's
# post-image script (board/dpu/common/post-image.sh) find them
DPU_RAUC_DEPENDENCIES = host-openssl host-rauc host-genimage rauc

DPU_RAUC_SYSTEM_CONF = $(call qstrip,$(BR2_PACKAGE_DPU_RAUC_SYSTEM_CONF))
DPU_RAUC_BUNDLE_VERSION = $(call qstrip,$(BR2_PACKAGE_DPU_RAUC_BUNDLE_VERSION))

ifeq ($(call qstrip,$(BR2_PACKAGE_DPU_RAUC_SIGNING_KEY)),)
# kept in the output directory, out of BUILD_DIR: a package rebuild must not
# make a key that the boxes already flashed do not trust
DPU_RAUC_DEV_KEYS = $(BASE_DIR)/dpu-rauc-dev-keys
DPU_RAUC_KEY = $(DPU_RAUC_DEV_KEYS)/signing.key.pem
DPU_RAUC_CERT = $(DPU_RAUC_DEV_KEYS)/signing.cert.pem
DPU_RAUC_KEYRING = $(DPU_RAUC_DEV_KEYS)/ca.cert.pem
DPU_RAUC_DEVELOPMENT = yes
define DPU_RAUC_DEV_KEYS_CMDS
	$(DPU_RAUC_PKGDIR)/dev-keys.sh $(DPU_RAUC_DEV_KEYS) $(HOST_DIR)/bin/openssl
	@echo "*** dpu-rauc: BR2_PACKAGE_DPU_RAUC_SIGNING_KEY is empty: DEVELOPMENT keys, NOT FOR PRODUCTION ***"
endef
else
DPU_RAUC_KEY = $(call qstrip,$(BR2_PACKAGE_DPU_RAUC_SIGNING_KEY))
DPU_RAUC_CERT = $(call qstrip,$(BR2_PACKAGE_DPU_RAUC_SIGNING_CERT))
DPU_RAUC_KEYRING = $(call qstrip,$(BR2_PACKAGE_DPU_RAUC_KEYRING))
DPU_RAUC_DEVELOPMENT = no
endif

ifeq ($(BR_BUILDING)$(BR2_PACKAGE_DPU_RAUC),yy)
ifeq ($(DPU_RAUC_SYSTEM_CONF),)
$(error BR2_PACKAGE_DPU_RAUC_SYSTEM_CONF is empty: the board's RAUC system.conf is needed)
endif
endif

# what the post-image script signs the bundle with
define DPU_RAUC_BUILD_CMDS
	$(DPU_RAUC_DEV_KEYS_CMDS)
	test -n "$(DPU_RAUC_CERT)" -a -n "$(DPU_RAUC_KEYRING)" || \
		{ echo "dpu-rauc: a signing key needs BR2_PACKAGE_DPU_RAUC_SIGNING_CERT and _KEYRING" >&2; exit 1; }
	printf 'KEY="%s"\nCERT="%s"\nKEYRING="%s"\nDEVELOPMENT=%s\nBUNDLE_VERSION="%s"\n' \
		"$(DPU_RAUC_KEY)" "$(DPU_RAUC_CERT)" "$(DPU_RAUC_KEYRING)" \
		"$(DPU_RAUC_DEVELOPMENT)" "$(DPU_RAUC_BUNDLE_VERSION)" \
		>$(@D)/bundle-signing.env
endef

define DPU_RAUC_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(DPU_RAUC_SYSTEM_CONF) $(TARGET_DIR)/etc/rauc/system.conf
	$(INSTALL) -D -m 0644 $(DPU_RAUC_KEYRING) $(TARGET_DIR)/etc/rauc/keyring.pem
endef

$(eval $(generic-package))
