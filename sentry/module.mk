# sentry/: the certificate authority. The CA logic (ca, csr, sign, spiffe, validator, jwks, util)
# is plain functions; service.c, flags.c and kube.c are the process around it (gRPC over TLS,
# Kubernetes, health, metrics) and main.c only wires. They use generated protobuf messages, so
# every link takes $(LIBDCPROTO).
SNT_SRCS  := $(filter-out sentry/main.c,$(sort $(wildcard sentry/*.c)))
SNT_OBJS  := $(SNT_SRCS:%.c=$(BUILD)/obj/%.o)
SNT_TOBJS := $(SNT_SRCS:%.c=$(BUILD)/tobj/%.o)
ifneq ($(wildcard sentry/main.c),)
BINARIES += $(BUILD)/bin/sentry
endif

$(BUILD)/bin/sentry: $(BUILD)/obj/sentry/main.o $(SNT_OBJS) $(LIBDCPROTO) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BIN_LDFLAGS) -o $@ $^ $(BIN_LDLIBS)

# Objects of sentry/ include generated headers.
$(SNT_OBJS) $(SNT_TOBJS) $(BUILD)/obj/sentry/main.o: | $(PROTO_GEN_H)

# sentryctl: a SignCertificate client (key, CSR, call over TLS verified against the anchors,
# SPIFFE id check) and the load generator of bench/sentry.sh.
BINARIES += $(BUILD)/bin/sentryctl
$(BUILD)/obj/sentry/tools/sentryctl.o: | $(PROTO_GEN_H)
$(BUILD)/bin/sentryctl: $(BUILD)/obj/sentry/tools/sentryctl.o $(SNT_OBJS) $(LIBDCPROTO) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

SNT_TEST_SRCS := $(sort $(wildcard sentry/tests/test_*.c))
SNT_TESTS     := $(SNT_TEST_SRCS:sentry/tests/%.c=$(BUILD)/tests/sentry/%)
UNIT_TESTS    += $(SNT_TESTS)

$(BUILD)/tests/sentry/%: $(BUILD)/tobj/sentry/tests/%.o $(SNT_TOBJS) $(LIBDCPROTO) $(LIBDC_T)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

SNT_FUZZ_SRCS := $(sort $(wildcard sentry/fuzz/fuzz_*.c))
FUZZ_TARGETS  += $(SNT_FUZZ_SRCS:sentry/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/fuzz_snt_%: $(BUILD)/obj/sentry/fuzz/fuzz_snt_%.o $(SNT_OBJS) $(LIBDCPROTO) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
