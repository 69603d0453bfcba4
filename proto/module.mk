# proto/: our .proto files (upstream package names and field numbers, written for daprc), compiled
# at build time by protoc-c (Debian protobuf-c-compiler) into $(BUILD)/gen/<path>.pb-c.{c,h} and
# archived into $(BUILD)/lib/libdcproto.a. A binary that uses generated messages links
# $(LIBDCPROTO) before $(LIBDC) and includes e.g. "dapr/proto/sentry/v1/sentry.pb-c.h"
# (-I$(BUILD)/gen is added to CFLAGS here); its objects should depend order-only on
# $(PROTO_GEN_H) so the headers exist first.
PROTOC_C    ?= protoc-c
PROTO_SRCS  := $(sort $(shell find proto -name '*.proto' 2>/dev/null))
PROTO_GEN_C := $(PROTO_SRCS:proto/%.proto=$(BUILD)/gen/%.pb-c.c)
PROTO_GEN_H := $(PROTO_GEN_C:.c=.h)
PROTO_OBJS  := $(PROTO_GEN_C:$(BUILD)/gen/%.c=$(BUILD)/obj/gen/%.o)
LIBDCPROTO  := $(BUILD)/lib/libdcproto.a
# Descriptor set of the test proto, for the Python interop side (no grpc-tools needed).
PROTO_TEST_DESC := $(BUILD)/gen/daprc_test.desc

CFLAGS      += -I$(BUILD)/gen
TEST_CFLAGS += -I$(BUILD)/gen

# One protoc-c run makes both files (a grouped pattern rule).
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	@$(if $(Q),echo "  PROTOC  $<")
	$(Q)$(PROTOC_C) -Iproto --c_out=$(BUILD)/gen $(<:proto/%=%)

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c | $(PROTO_GEN_H)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBDCPROTO): $(PROTO_OBJS)
	@mkdir -p $(@D)
	$(Q)$(AR) rcs $@ $^

$(PROTO_TEST_DESC): proto/daprc/test/v1/echo.proto
	@mkdir -p $(@D)
	$(Q)$(PROTOC_C) -Iproto --descriptor_set_out=$@ daprc/test/v1/echo.proto

# The gRPC layer's tests and fuzz target use generated messages.
$(BUILD)/tests/common/test_grpc: $(LIBDCPROTO)
$(BUILD)/tobj/common/tests/test_grpc.o: | $(PROTO_GEN_H)
$(BUILD)/fuzz/fuzz_grpc_pb: $(LIBDCPROTO)
$(BUILD)/obj/common/fuzz/fuzz_grpc_pb.o: | $(PROTO_GEN_H)

# grpc-echo: the C side of tests/integration/test_grpc_interop.sh (server and client modes).
BINARIES += $(BUILD)/bin/grpc-echo $(PROTO_TEST_DESC)
$(BUILD)/obj/tests/interop/grpc_echo.o: | $(PROTO_GEN_H)
$(BUILD)/bin/grpc-echo: $(BUILD)/obj/tests/interop/grpc_echo.o $(LIBDCPROTO) $(LIBDC)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
