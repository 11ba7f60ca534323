include $(sort $(wildcard $(BR2_EXTERNAL_DPU_AGENT_PATH)/package/*/*.mk))
