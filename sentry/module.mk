# sentry/: the certificate authority. The CA logic is plain functions; the binary appears once
# sentry/main.c (the gRPC service) exists.
SNT_SRCS  := $(filter-out sentry/main.c,$(sort $(wildcard sentry/*.c)))
SNT_OBJS  := $(SNT_SRCS:%.c=$(BUILD)/obj/%.o)
SNT_TOBJS := $(SNT_SRCS:%.c=$(BUILD)/tobj/%.o)
ifneq ($(wildcard sentry/main.c),)
BINARIES += $(BUILD)/bin/sentry
endif

$(BUILD)/bin/sentry: $(BUILD)/obj/sentry/main.o $(SNT_OBJS) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

SNT_TEST_SRCS := $(sort $(wildcard sentry/tests/test_*.c))
SNT_TESTS     := $(SNT_TEST_SRCS:sentry/tests/%.c=$(BUILD)/tests/sentry/%)
UNIT_TESTS    += $(SNT_TESTS)

$(BUILD)/tests/sentry/%: $(BUILD)/tobj/sentry/tests/%.o $(SNT_TOBJS) $(LIBDC_T)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

SNT_FUZZ_SRCS := $(sort $(wildcard sentry/fuzz/fuzz_*.c))
FUZZ_TARGETS  += $(SNT_FUZZ_SRCS:sentry/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/fuzz_snt_%: $(BUILD)/obj/sentry/fuzz/fuzz_snt_%.o $(SNT_OBJS) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
