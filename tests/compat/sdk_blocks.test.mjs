// The official Dapr JavaScript SDK (@dapr/dapr) in HTTP mode for pub/sub (DaprServer as the
// app), output bindings, configuration, distributed lock and cryptography.
// Environment: DAPR_HTTP_PORT (daprd), APP_PORT (the port daprd's --app-port names: DaprServer
// listens there), PUBSUB, BINDING, CONFIG_STORE, LOCK_STORE, CRYPTO_STORE, CRYPTO_KEY.
// SDK 3.18.0 has no HTTP implementation of configuration get/subscribe nor of crypto (both
// throw "not supported" in HTTP mode; upstream's SDK offers them over gRPC only): for these the
// test checks that refusal and then drives daprd's HTTP endpoints through the SDK's own HTTP
// transport (configuration) or fetch (crypto, a binary stream the SDK transport would decode).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { DaprClient, DaprServer, CommunicationProtocolEnum } from "@dapr/dapr";

const daprPort = process.env.DAPR_HTTP_PORT;
const pubsub = process.env.PUBSUB || "pubsub";
const binding = process.env.BINDING || "files";
const cfgStore = process.env.CONFIG_STORE || "cfgstore";
const lockStore = process.env.LOCK_STORE || "lockstore";
const cryptoStore = process.env.CRYPTO_STORE || "localkeys";
const cryptoKey = process.env.CRYPTO_KEY || "key.json";
const clientOptions = {
  daprHost: "127.0.0.1",
  daprPort,
  communicationProtocol: CommunicationProtocolEnum.HTTP,
};
const client = new DaprClient(clientOptions);

// Messages received by the DaprServer subscribers, and waiters for them.
const received = [];
const waiters = [];
function deliver(topic, data, headers) {
  received.push({ topic, data, headers });
  for (const w of waiters.splice(0)) w();
}
async function waitFor(pred, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const hit = received.filter(pred);
    if (hit.length > 0) return hit;
    if (Date.now() > end) throw new Error("timed out; received " + JSON.stringify(received));
    await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
  }
}

let server;
after(async () => { if (server) await server.stop(); });

test("pubsub: DaprServer subscribes (GET /dapr/subscribe) and daprd starts its subscriptions", async () => {
  server = new DaprServer({
    serverHost: "127.0.0.1",
    serverPort: process.env.APP_PORT,
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    clientOptions,
  });
  await server.pubsub.subscribe(pubsub, "orders", async (data, headers) => {
    deliver("orders", data, headers);
  });
  await server.pubsub.subscribe(pubsub, "bulk-orders", async (data, headers) => {
    deliver("bulk-orders", data, headers);
  });
  await server.start();
  const end = Date.now() + 10000;
  for (;;) {
    const md = await client.metadata.get();
    const topics = (md.subscriptions || []).map((s) => s.topic).sort();
    if (topics.includes("orders") && topics.includes("bulk-orders")) break;
    if (Date.now() > end) assert.fail("subscriptions not active: " + JSON.stringify(md.subscriptions));
    await new Promise((r) => setTimeout(r, 100));
  }
});

test("pubsub: publish an object -> DaprServer handler gets the data", async () => {
  const res = await client.pubsub.publish(pubsub, "orders", { orderId: 42, item: "book" });
  assert.equal(res.error, undefined);
  const [m] = await waitFor((m) => m.topic === "orders" && m.data?.orderId === 42);
  assert.deepEqual(m.data, { orderId: 42, item: "book" });
});

test("pubsub: publish a string and a CloudEvent built by the app", async () => {
  await client.pubsub.publish(pubsub, "orders", "plain text");
  await waitFor((m) => m.topic === "orders" && m.data === "plain text");
  const ce = {
    specversion: "1.0", id: "ce-sdk-1", source: "sdk-test", type: "com.example.order",
    datacontenttype: "application/json", data: { orderId: 7 },
  };
  await client.pubsub.publish(pubsub, "orders", ce);
  const [m] = await waitFor((m) => m.topic === "orders" && m.data?.orderId === 7);
  assert.deepEqual(m.data, { orderId: 7 });
});

test("pubsub: publishBulk (alpha) delivers every entry", async () => {
  const res = await client.pubsub.publishBulk(pubsub, "bulk-orders", [{ n: 1 }, { n: 2 }, "three"]);
  assert.deepEqual(res.failedMessages, []);
  await waitFor((m) => m.topic === "bulk-orders" && m.data?.n === 1);
  await waitFor((m) => m.topic === "bulk-orders" && m.data?.n === 2);
  await waitFor((m) => m.topic === "bulk-orders" && m.data === "three");
});

test("bindings: localstorage create, get, list, delete", async () => {
  await client.binding.send(binding, "create", { hello: "world" }, { fileName: "sdk.json" });
  assert.deepEqual(await client.binding.send(binding, "get", undefined, { fileName: "sdk.json" }),
    { hello: "world" });
  const list = await client.binding.send(binding, "list", undefined, {});
  assert.ok(JSON.stringify(list).includes("sdk.json"), JSON.stringify(list));
  await client.binding.send(binding, "delete", undefined, { fileName: "sdk.json" });
  await assert.rejects(client.binding.send(binding, "get", undefined, { fileName: "sdk.json" }));
});

test("configuration: SDK HTTP get is unsupported; get through the SDK HTTP transport", async () => {
  await assert.rejects(client.configuration.get(cfgStore, ["cfg-a"]), /not supported|HTTP/i);
  const http = client.daprClient;
  const one = await http.executeWithApiVersion("v1.0", `/configuration/${cfgStore}?key=cfg-a`,
    { method: "GET" });
  assert.equal(one["cfg-a"].value, "va");
  assert.equal(one["cfg-a"].version, "1");
  const all = await http.executeWithApiVersion("v1.0-alpha1", `/configuration/${cfgStore}`,
    { method: "GET" });
  assert.deepEqual(Object.keys(all).sort(), ["cfg-a", "cfg-b"]);
  assert.equal(all["cfg-b"].value, "vb");
});

test("lock: tryLock, contention, unlock statuses", async () => {
  assert.deepEqual(await client.lock.lock(lockStore, "sdk-res", "owner-a", 30), { success: true });
  assert.deepEqual(await client.lock.lock(lockStore, "sdk-res", "owner-b", 30), { success: false });
  // LockStatus: Success 0, LockDoesNotExist 1, LockBelongsToOthers 2.
  assert.deepEqual(await client.lock.unlock(lockStore, "sdk-res", "owner-b"), { status: 2 });
  assert.deepEqual(await client.lock.unlock(lockStore, "sdk-res", "owner-a"), { status: 0 });
  assert.deepEqual(await client.lock.unlock(lockStore, "sdk-res", "owner-a"), { status: 1 });
  assert.deepEqual(await client.lock.lock(lockStore, "sdk-res", "owner-b", 30), { success: true });
});

test("crypto: SDK HTTP encrypt is unsupported; HTTP encrypt/decrypt round trip", async () => {
  assert.throws(() => client.crypto.encrypt(Buffer.from("x"), {}), /not available using the HTTP/);
  const base = `http://127.0.0.1:${daprPort}/v1.0-alpha1/crypto/${cryptoStore}`;
  const plain = Buffer.alloc(70000);
  for (let i = 0; i < plain.length; i++) plain[i] = (i * 31 + 7) & 0xff;
  for (const cipher of ["aes-gcm", "chacha20-poly1305"]) {
    const enc = await fetch(`${base}/encrypt`, {
      method: "PUT", body: plain,
      headers: { "dapr-key-name": cryptoKey, "dapr-key-wrap-algorithm": "A256KW",
        "dapr-data-encryption-cipher": cipher },
    });
    assert.equal(enc.status, 200, await enc.clone().text());
    const ct = Buffer.from(await enc.arrayBuffer());
    assert.ok(ct.subarray(0, 15).toString() === "dapr.io/enc/v1\n");
    const dec = await fetch(`${base}/decrypt`, { method: "PUT", body: ct });
    assert.equal(dec.status, 200);
    assert.ok(Buffer.from(await dec.arrayBuffer()).equals(plain), cipher);
  }
});
