################################################################################
#
# dpu-agent-yang
#
################################################################################

# The files of tools/yang-modules.lock (test_buildroot.py keeps them in step).
# Main source: the NETCONF client/server draft's module; the others are extra
# downloads from their own repositories, each pinned by commit.
DPU_AGENT_YANG_VERSION = 337478053d1d63d0c619d1b8e96a8eb2058ac6e3
DPU_AGENT_YANG_SITE = https://raw.githubusercontent.com/netconf-wg/netconf-client-server/$(DPU_AGENT_YANG_VERSION)
DPU_AGENT_YANG_SOURCE = ietf-netconf-server.yang
DPU_AGENT_YANG_YANGMODELS = https://raw.githubusercontent.com/YangModels/yang/6795d9c680bc77fe706b3be9557d8adf12901dcc/standard
DPU_AGENT_YANG_NETOPEER2 = https://raw.githubusercontent.com/CESNET/netopeer2/5be28a93e783b41d1c284c1275c9b24237d0454d/modules
DPU_AGENT_YANG_EXTRA_DOWNLOADS = \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/iana-crypt-hash@2014-08-06.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/iana-hardware@2018-03-13.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/iana/iana-if-type@2026-03-17.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/iana/iana-ssh-encryption-algs@2024-10-16.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/iana/iana-ssh-key-exchange-algs@2024-10-16.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/iana/iana-ssh-mac-algs@2024-10-16.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/iana/iana-ssh-public-key-algs@2024-10-16.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/iana/iana-tls-cipher-suite-algs@2024-10-16.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-crypto-types@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-datastores@2018-02-14.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-hardware@2018-03-13.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-inet-types@2025-12-22.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-interfaces@2018-02-20.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-ip@2018-02-22.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-keystore@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-netconf-acm@2018-02-14.yang \
	ietf-netconf-client.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-netconf-monitoring@2010-10-04.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-netconf-nmda@2019-01-07.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-netconf-notifications@2012-02-06.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-netconf-with-defaults@2011-06-01.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-netconf@2011-06-01.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-origin@2018-02-14.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-ssh-client@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-ssh-common@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-ssh-server@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-system@2014-08-06.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-tcp-client@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-tcp-common@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-tcp-server@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-tls-client@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-tls-common@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-tls-server@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-truststore@2024-10-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-x509-cert-to-name@2014-12-10.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-yang-library@2019-01-04.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-yang-metadata@2016-08-05.yang \
	$(DPU_AGENT_YANG_YANGMODELS)/ietf/RFC/ietf-yang-types@2025-12-22.yang \
	$(DPU_AGENT_YANG_NETOPEER2)/nc-notifications@2008-07-14.yang \
	$(DPU_AGENT_YANG_NETOPEER2)/notifications@2008-07-14.yang
# each module states its license (IETF Trust): the Simplified BSD License, the
# Revised BSD License, or none (RFC 5277's two, converted from its XSD)
DPU_AGENT_YANG_LICENSE = \
	BSD-2-Clause (ietf-netconf, ietf-interfaces and the older RFC modules), \
	BSD-3-Clause (ietf-inet-types, ietf-yang-types, ietf-netconf-server and \
	the other RFC 9640-9645 modules, iana-ssh-* and iana-tls-*), \
	unknown (notifications, nc-notifications: no license text)
DPU_AGENT_YANG_LICENSE_FILES = \
	ietf-netconf@2011-06-01.yang \
	ietf-inet-types@2025-12-22.yang
# the draft's sources carry a placeholder for their revision date
DPU_AGENT_YANG_DRAFT_REVISION = 2025-04-24
DPU_AGENT_YANG_DRAFT_MODULES = ietf-netconf-client ietf-netconf-server

define DPU_AGENT_YANG_EXTRACT_CMDS
	$(foreach f,$(DPU_AGENT_YANG_SOURCE) $(notdir $(DPU_AGENT_YANG_EXTRA_DOWNLOADS)),\
		cp $(DPU_AGENT_YANG_DL_DIR)/$(f) $(@D)/$(f)$(sep))
	$(foreach m,$(DPU_AGENT_YANG_DRAFT_MODULES),\
		sed 's/YYYY-MM-DD/$(DPU_AGENT_YANG_DRAFT_REVISION)/' $(@D)/$(m).yang \
			>$(@D)/$(m)@$(DPU_AGENT_YANG_DRAFT_REVISION).yang && \
		rm $(@D)/$(m).yang$(sep))
endef

define DPU_AGENT_YANG_INSTALL_TARGET_CMDS
	$(INSTALL) -d $(TARGET_DIR)/usr/share/dpu-agent/yang
	$(INSTALL) -m 0644 $(@D)/*.yang $(TARGET_DIR)/usr/share/dpu-agent/yang/
endef

$(eval $(generic-package))
