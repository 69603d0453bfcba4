# e2e/: tools for end-to-end and integration tests (not shipped).
# k8sprobe: a tiny CLI over libdc's Kubernetes client (tests/integration/test_k8s_client.sh).
ifneq ($(wildcard e2e/tools/k8sprobe.c),)
BINARIES += $(BUILD)/bin/k8sprobe
endif

$(BUILD)/bin/k8sprobe: $(BUILD)/obj/e2e/tools/k8sprobe.o $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
