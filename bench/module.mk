# bench/: helper programs of the benchmarks (not installed).
BINARIES += $(BUILD)/bin/bench-app

$(BUILD)/bin/bench-app: $(BUILD)/obj/bench/app.o $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

BINARIES += $(BUILD)/bin/loadgen

$(BUILD)/bin/loadgen: $(BUILD)/obj/bench/loadgen.o $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(LAZY_LIBS)

BINARIES += $(BUILD)/bin/bench-sub

$(BUILD)/bin/bench-sub: $(BUILD)/obj/bench/sub.o $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
