// The official Dapr JavaScript SDK (@dapr/dapr) in HTTP mode against a running daprd.
// Environment: DAPR_HTTP_PORT (daprd), APP_ID (its app id), STATE_STORE, SECRET_STORE.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DaprClient, CommunicationProtocolEnum, HttpMethod } from "@dapr/dapr";

const client = new DaprClient({
  daprHost: "127.0.0.1",
  daprPort: process.env.DAPR_HTTP_PORT,
  communicationProtocol: CommunicationProtocolEnum.HTTP,
});
const store = process.env.STATE_STORE || "statestore";
const secrets = process.env.SECRET_STORE || "secretstore";
const appId = process.env.APP_ID;

test("metadata", async () => {
  const md = await client.metadata.get();
  assert.equal(md.id, appId);
  assert.ok(md.components.some((c) => c.name === store));
});

test("state save, get, bulk, delete", async () => {
  await client.state.save(store, [
    { key: "sdk-a", value: { n: 1 } },
    { key: "sdk-b", value: "text" },
  ]);
  assert.deepEqual(await client.state.get(store, "sdk-a"), { n: 1 });
  assert.equal(await client.state.get(store, "sdk-b"), "text");
  const bulk = await client.state.getBulk(store, ["sdk-a", "sdk-b", "sdk-missing"]);
  const byKey = Object.fromEntries(bulk.map((i) => [i.key, i.data]));
  assert.deepEqual(byKey["sdk-a"], { n: 1 });
  assert.equal(byKey["sdk-b"], "text");
  await client.state.delete(store, "sdk-a");
  assert.equal(await client.state.get(store, "sdk-a"), "");
});

test("state transaction", async () => {
  await client.state.transaction(store, [
    { operation: "upsert", request: { key: "sdk-t1", value: "one" } },
    { operation: "upsert", request: { key: "sdk-t2", value: "two" } },
    { operation: "delete", request: { key: "sdk-b" } },
  ]);
  assert.equal(await client.state.get(store, "sdk-t1"), "one");
  assert.equal(await client.state.get(store, "sdk-t2"), "two");
  assert.equal(await client.state.get(store, "sdk-b"), "");
});

test("secrets get and bulk", async () => {
  const s = await client.secret.get(secrets, "sdk-secret");
  assert.deepEqual(s, { "sdk-secret": "sdk-value" });
  const all = await client.secret.getBulk(secrets);
  assert.deepEqual(all["sdk-secret"], { "sdk-secret": "sdk-value" });
});

test("service invocation", async () => {
  const res = await client.invoker.invoke(appId, "echo/sdk?x=1", HttpMethod.POST, { hello: "world" });
  assert.equal(res.method, "POST");
  assert.equal(res.path, "/echo/sdk");
  assert.deepEqual(JSON.parse(res.body), { hello: "world" });
});
