# common/: libdc, the shared library of every daprc binary.
DC_SRCS   := $(sort $(wildcard common/src/*.c))
DC_OBJS   := $(DC_SRCS:%.c=$(BUILD)/obj/%.o)
DC_TOBJS  := $(DC_SRCS:%.c=$(BUILD)/tobj/%.o)
LIBDC     := $(BUILD)/lib/libdc.a
LIBDC_T   := $(BUILD)/lib/libdc_test.a

$(LIBDC): $(DC_OBJS)
	@mkdir -p $(@D)
	$(Q)$(AR) rcs $@ $^

# The test flavour is built with DC_TESTING so DC_TESTABLE statics are visible.
$(LIBDC_T): $(DC_TOBJS)
	@mkdir -p $(@D)
	$(Q)$(AR) rcs $@ $^

DC_TEST_SRCS := $(sort $(wildcard common/tests/test_*.c))
DC_TESTS     := $(DC_TEST_SRCS:common/tests/%.c=$(BUILD)/tests/common/%)
UNIT_TESTS   += $(DC_TESTS)

$(BUILD)/tests/common/%: $(BUILD)/tobj/common/tests/%.o $(LIBDC_T)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

DC_FUZZ_SRCS := $(sort $(wildcard common/fuzz/fuzz_*.c))
FUZZ_TARGETS += $(DC_FUZZ_SRCS:common/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: $(BUILD)/obj/common/fuzz/%.o $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
