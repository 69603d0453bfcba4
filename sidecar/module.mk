# sidecar/: daprd.
SDC_SRCS := $(filter-out sidecar/main.c,$(sort $(wildcard sidecar/*.c)))
SDC_OBJS := $(SDC_SRCS:%.c=$(BUILD)/obj/%.o)
SDC_TOBJS := $(SDC_SRCS:%.c=$(BUILD)/tobj/%.o)
ifneq ($(wildcard sidecar/main.c),)
BINARIES += $(BUILD)/bin/daprd
endif

# The workload identity client (common/src/identity.c, in libdc) uses the generated sentry
# messages: daprd links $(LIBDCPROTO) after $(LIBDC), and the object waits for the headers.
# sentry's CA (sentry/module.mk is read later, so its object list is spelled out here) is linked
# only by the tests, which sign certificates in-process, and by test-ca.
SDC_SNT_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out sentry/main.c,$(wildcard sentry/*.c)))
SDC_SNT_TOBJS := $(patsubst %.c,$(BUILD)/tobj/%.o,$(filter-out sentry/main.c,$(wildcard sentry/*.c)))
$(BUILD)/obj/common/src/identity.o $(BUILD)/tobj/common/src/identity.o: | $(PROTO_GEN_H)

$(BUILD)/bin/daprd: $(BUILD)/obj/sidecar/main.o $(SDC_OBJS) $(LIBDC) $(LIBDCPROTO)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BIN_LDFLAGS) -o $@ $^ $(BIN_LDLIBS)

SDC_TEST_SRCS := $(sort $(wildcard sidecar/tests/test_*.c))
SDC_TESTS     := $(SDC_TEST_SRCS:sidecar/tests/%.c=$(BUILD)/tests/sidecar/%)
UNIT_TESTS    += $(SDC_TESTS)

$(BUILD)/tests/sidecar/%: $(BUILD)/tobj/sidecar/tests/%.o $(SDC_TOBJS) $(SDC_SNT_TOBJS) \
                         $(LIBDC_T) $(LIBDCPROTO)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

SDC_FUZZ_SRCS := $(sort $(wildcard sidecar/fuzz/fuzz_*.c))
FUZZ_TARGETS  += $(SDC_FUZZ_SRCS:sidecar/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/fuzz_sdc_%: $(BUILD)/obj/sidecar/fuzz/fuzz_sdc_%.o $(SDC_OBJS) $(SDC_SNT_OBJS) \
                         $(LIBDC) $(LIBDCPROTO)
	@mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

# test-ca: a minimal sentry (sentry's CA logic behind SignCertificate) for
# tests/integration/test_mtls.sh when build/bin/sentry does not exist. Not installed.
BINARIES += $(BUILD)/bin/test-ca
$(BUILD)/obj/tests/apps/test_ca.o: | $(PROTO_GEN_H)
$(BUILD)/bin/test-ca: $(BUILD)/obj/tests/apps/test_ca.o $(SDC_SNT_OBJS) $(LIBDCPROTO) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/tobj/sidecar/tests/test_identity.o: | $(PROTO_GEN_H)
