import { afterAll, describe, expect, it } from "vitest";
import { verifyPush } from "../../client/src/index.js";
import { startLocal, stopAllLocal } from "../support/local-process.js";
import { waitFor } from "../support/wait.js";
import { type Received, startWebhook } from "../support/webhook.js";

/**
 * Push delivery in real time under the local runtime as `npm start` runs it (embedded DynamoDB Local,
 * the in-process dispatcher started by publishes and the sweeper timer). One case, tolerant: the machine
 * may be loaded, so only "never early" is strict; lateness is bounded generously (the bench measures it).
 */

const TOLERANCE_MS = 15_000;
const hooks: { close(): Promise<void> }[] = [];
afterAll(async () => {
  stopAllLocal();
  await Promise.all(hooks.map((h) => h.close()));
});

describe("npm start: push delivery", () => {
  it("pushes a message published with delayMs 3000 to a local webhook no earlier than 3 s after the publish, signed with the group's secret", async () => {
    // Prepare
    const hook = await startWebhook({ now: () => Date.now() });
    hooks.push(hook);
    const local = await startLocal();
    const put = await fetch(`${local.url}/v1/topics/orders/groups/webhook`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ push: { type: "http", url: hook.url } }),
    });
    expect(put.status).toBe(200);
    const secret = ((await put.json()) as { push: { secret: string } }).push.secret;
    expect(secret).toMatch(/^whsec_/);
    // Act
    const sentMs = Date.now();
    const published = await fetch(`${local.url}/v1/topics/orders/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ body: "close order 42", delayMs: 3000 }),
    });
    expect(published.status).toBe(201);
    const { messageId } = (await published.json()) as { messageId: string };
    await waitFor(() => hook.received.length > 0, 3000 + TOLERANCE_MS, "the push");
    // Assess
    const got = hook.received[0] as Received;
    expect(got.atMs - sentMs).toBeGreaterThanOrEqual(3000);
    expect(got.atMs - sentMs).toBeLessThan(3000 + TOLERANCE_MS);
    expect(JSON.parse(got.body)).toMatchObject({ messageId, topic: "orders", group: "webhook", body: "close order 42", attempt: 1, idempotencyKey: `${messageId}:1` });
    expect(verifyPush({ secret, signature: got.headers["delayq-signature"] as string, body: got.body })).toBe(true);
    expect(verifyPush({ secret: "whsec_other", signature: got.headers["delayq-signature"] as string, body: got.body })).toBe(false);
  }, 180_000);
});
