# bench/: helper programs of the benchmarks (not installed).
BINARIES += $(BUILD)/bin/bench-app

$(BUILD)/bin/bench-app: $(BUILD)/obj/bench/app.o $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
