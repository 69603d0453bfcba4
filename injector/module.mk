# injector/: the sidecar injector (mutating admission webhook). The logic is plain functions;
# the binary appears once injector/main.c (the HTTPS service) exists.
INJ_SRCS  := $(filter-out injector/main.c,$(sort $(wildcard injector/*.c)))
INJ_OBJS  := $(INJ_SRCS:%.c=$(BUILD)/obj/%.o)
INJ_TOBJS := $(INJ_SRCS:%.c=$(BUILD)/tobj/%.o)
ifneq ($(wildcard injector/main.c),)
BINARIES += $(BUILD)/bin/injector
endif

# In sentry mode the webhook's certificate comes from the identity client (libdc), which uses
# the generated sentry messages: $(LIBDCPROTO) after $(LIBDC).
$(BUILD)/bin/injector: $(BUILD)/obj/injector/main.o $(INJ_OBJS) $(LIBDC) $(LIBDCPROTO)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BIN_LDFLAGS) -o $@ $^ $(BIN_LDLIBS)

INJ_TEST_SRCS := $(sort $(wildcard injector/tests/test_*.c))
INJ_TESTS     := $(INJ_TEST_SRCS:injector/tests/%.c=$(BUILD)/tests/injector/%)
UNIT_TESTS    += $(INJ_TESTS)

$(BUILD)/tests/injector/%: $(BUILD)/tobj/injector/tests/%.o $(INJ_TOBJS) $(LIBDC_T) $(LIBDCPROTO)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

INJ_FUZZ_SRCS := $(sort $(wildcard injector/fuzz/fuzz_*.c))
FUZZ_TARGETS  += $(INJ_FUZZ_SRCS:injector/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/fuzz_inj_%: $(BUILD)/obj/injector/fuzz/fuzz_inj_%.o $(INJ_OBJS) $(LIBDC) $(LIBDCPROTO)
	@mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
