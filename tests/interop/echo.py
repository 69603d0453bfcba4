#!/usr/bin/python3
"""The independent side of the gRPC interoperability test: Debian's python3-grpcio (gRPC C-core)
with message classes built at run time from the descriptor set that protoc-c writes for
proto/daprc/test/v1/echo.proto (no grpc-tools needed).

  echo.py DESC server [--tls CERT KEY]        serve daprc.test.v1.Echo, print "PORT <n>"
  echo.py DESC client TARGET [--tls CA NAME]  run the scenarios against TARGET; print
                                              "ok <name>" / "FAIL <name>: why"; exit 1 on failure
"""
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

MAX = 4 * 1024 * 1024
SVC = "daprc.test.v1.Echo"


def load(desc_path):
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(desc_path, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    factory = message_factory.MessageFactory(pool)
    req = factory.GetPrototype(pool.FindMessageTypeByName("daprc.test.v1.EchoRequest"))
    resp = factory.GetPrototype(pool.FindMessageTypeByName("daprc.test.v1.EchoResponse"))
    return req, resp


def code_of(n):
    for c in grpc.StatusCode:
        if c.value[0] == n:
            return c
    return grpc.StatusCode.UNKNOWN


def serve(Req, Resp, args):
    def unary(req, ctx):
        if req.sleep_ms:
            time.sleep(req.sleep_ms / 1000.0)
        if req.status_code:
            ctx.abort(code_of(req.status_code), req.status_message)
        md = dict(ctx.invocation_metadata())
        payload = bytes(req.response_size) if req.response_size > 0 else req.payload
        return Resp(message=md.get("x-echo", req.message), payload=payload,
                    total_bytes=len(req.payload))

    def server_stream(req, ctx):
        for i in range(req.count):
            if not ctx.is_active():
                return
            yield Resp(message=req.message, payload=bytes(req.response_size), index=i)
        if req.status_code:
            ctx.abort(code_of(req.status_code), req.status_message)

    def client_stream(it, ctx):
        n = total = 0
        for r in it:
            n += 1
            total += len(r.payload)
        return Resp(message="done", index=n, total_bytes=total)

    def bidi(it, ctx):
        for i, r in enumerate(it):
            yield Resp(message=r.message, payload=bytes(max(r.response_size, 0)), index=i)

    kw = dict(request_deserializer=Req.FromString, response_serializer=Resp.SerializeToString)
    handler = grpc.method_handlers_generic_handler(SVC, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, **kw),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, **kw),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, **kw),
        "BidiStream": grpc.stream_stream_rpc_method_handler(bidi, **kw),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=[handler],
                         options=[("grpc.max_receive_message_length", MAX),
                                  ("grpc.max_send_message_length", MAX)])
    if len(args) >= 3 and args[0] == "--tls":
        creds = grpc.ssl_server_credentials([(open(args[2], "rb").read(),
                                              open(args[1], "rb").read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("PORT %d" % port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    server.stop(2).wait()


class Runner:
    def __init__(self):
        self.failures = 0

    def check(self, name, ok, why=""):
        if ok:
            print("ok %s" % name, flush=True)
        else:
            self.failures += 1
            print("FAIL %s: %s" % (name, why), flush=True)


def client(Req, Resp, args):
    target = args[0]
    opts = [("grpc.max_receive_message_length", MAX), ("grpc.max_send_message_length", MAX)]
    if len(args) >= 4 and args[1] == "--tls":
        creds = grpc.ssl_channel_credentials(root_certificates=open(args[2], "rb").read())
        ch = grpc.secure_channel(target, creds,
                                 options=opts + [("grpc.ssl_target_name_override", args[3])])
    else:
        ch = grpc.insecure_channel(target, options=opts)
    kw = dict(request_serializer=Req.SerializeToString, response_deserializer=Resp.FromString)
    unary = ch.unary_unary("/%s/Unary" % SVC, **kw)
    sstream = ch.unary_stream("/%s/ServerStream" % SVC, **kw)
    cstream = ch.stream_unary("/%s/ClientStream" % SVC, **kw)
    bidi = ch.stream_stream("/%s/BidiStream" % SVC, **kw)
    missing = ch.unary_unary("/%s/Missing" % SVC, **kw)
    r = Runner()

    def expect_error(name, fn, code, message=None):
        try:
            fn()
            r.check(name, False, "no error")
        except grpc.RpcError as e:
            ok = e.code() == code and (message is None or e.details() == message)
            r.check(name, ok, "%s %r" % (e.code(), e.details()))

    resp = unary(Req(message="hello", payload=b"x" * 1000), timeout=5)
    r.check("unary", resp.message == "hello" and len(resp.payload) == 1000, str(resp))
    resp, call = unary.with_call(Req(message="m"), timeout=5, metadata=[("x-echo", "via metadata"),
                                                                        ("x-b-bin", b"\x00\xff")])
    r.check("unary-metadata", resp.message == "via metadata", resp.message)
    msg = "no such thing: 100% caf\u00e9"
    expect_error("unary-error", lambda: unary(Req(status_code=5, status_message=msg), timeout=5),
                 grpc.StatusCode.NOT_FOUND, msg)
    t0 = time.time()
    expect_error("unary-deadline", lambda: unary(Req(sleep_ms=2000), timeout=0.2),
                 grpc.StatusCode.DEADLINE_EXCEEDED)
    r.check("unary-deadline-fast", time.time() - t0 < 1.5, "took %.2fs" % (time.time() - t0))

    big = bytes(MAX - 64)
    resp = unary(Req(payload=big, response_size=MAX - 64), timeout=20)
    r.check("large-both-ways", len(resp.payload) == MAX - 64 and resp.total_bytes == MAX - 64)
    expect_error("large-request-refused", lambda: unary(Req(payload=bytes(MAX + 1)), timeout=20),
                 grpc.StatusCode.RESOURCE_EXHAUSTED)
    expect_error("large-response-refused", lambda: unary(Req(response_size=MAX + 1), timeout=20),
                 grpc.StatusCode.RESOURCE_EXHAUSTED)

    got = list(sstream(Req(message="s", count=100, response_size=100), timeout=10))
    r.check("server-stream", len(got) == 100 and got[-1].index == 99, str(len(got)))
    resp = cstream(iter([Req(payload=b"p" * 200) for _ in range(50)]), timeout=10)
    r.check("client-stream", resp.index == 50 and resp.total_bytes == 50 * 200, str(resp))
    got = list(bidi(iter([Req(message="b%d" % i, response_size=500) for i in range(100)]),
                    timeout=10))
    r.check("bidi-stream", len(got) == 100 and got[99].message == "b99", str(len(got)))
    expect_error("server-stream-error",
                 lambda: list(sstream(Req(count=3, status_code=9, status_message="nope"),
                                      timeout=10)),
                 grpc.StatusCode.FAILED_PRECONDITION, "nope")

    it = sstream(Req(count=1000000, response_size=1000), timeout=20)
    n = 0
    for _ in it:
        n += 1
        if n == 5:
            it.cancel()
            break
    try:
        for _ in it:
            pass
        r.check("cancel", False, "stream went on")
    except grpc.RpcError as e:
        r.check("cancel", e.code() == grpc.StatusCode.CANCELLED, str(e.code()))

    expect_error("unimplemented", lambda: missing(Req(), timeout=5),
                 grpc.StatusCode.UNIMPLEMENTED)
    ch.close()
    return 1 if r.failures else 0


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    Req, Resp = load(sys.argv[1])
    if sys.argv[2] == "server":
        serve(Req, Resp, sys.argv[3:])
        return 0
    return client(Req, Resp, sys.argv[3:])


if __name__ == "__main__":
    sys.exit(main())
