# sidecar/: daprd.
SDC_SRCS := $(filter-out sidecar/main.c,$(sort $(wildcard sidecar/*.c)))
SDC_OBJS := $(SDC_SRCS:%.c=$(BUILD)/obj/%.o)
SDC_TOBJS := $(SDC_SRCS:%.c=$(BUILD)/tobj/%.o)
ifneq ($(wildcard sidecar/main.c),)
BINARIES += $(BUILD)/bin/daprd
endif

$(BUILD)/bin/daprd: $(BUILD)/obj/sidecar/main.o $(SDC_OBJS) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

SDC_TEST_SRCS := $(sort $(wildcard sidecar/tests/test_*.c))
SDC_TESTS     := $(SDC_TEST_SRCS:sidecar/tests/%.c=$(BUILD)/tests/sidecar/%)
UNIT_TESTS    += $(SDC_TESTS)

$(BUILD)/tests/sidecar/%: $(BUILD)/tobj/sidecar/tests/%.o $(SDC_TOBJS) $(LIBDC_T)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

SDC_FUZZ_SRCS := $(sort $(wildcard sidecar/fuzz/fuzz_*.c))
FUZZ_TARGETS  += $(SDC_FUZZ_SRCS:sidecar/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/fuzz_sdc_%: $(BUILD)/obj/sidecar/fuzz/fuzz_sdc_%.o $(SDC_OBJS) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
