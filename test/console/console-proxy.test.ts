import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DelayqClient } from "../../client/src/client.js";
import { type ConsoleServer, startConsoleServer } from "../../client/src/cli/console.js";
import { type SigV4Server, startSigV4Server } from "../support/sigv4-server.js";
import { memoryApp } from "../support/memory-app.js";

const credentials = { accessKeyId: "AKIDCONSOLETEST", secretAccessKey: "console-test-secret" };
let api: SigV4Server;
let proxy: ConsoleServer;
let base: string;

beforeAll(async () => {
  api = await startSigV4Server(memoryApp(Date.now()).runtime.app, credentials, "eu-west-1");
  proxy = await startConsoleServer(new DelayqClient({ endpoint: api.url, aws: { region: "eu-west-1", credentials } }), { port: 0, assets: await import("../../console/assets.js") });
  base = proxy.url.replace(/\/console$/, "");
});
afterAll(async () => {
  await proxy?.close();
  await api?.close();
});

describe("delayq console against a SigV4 endpoint", () => {
  it("serves the page and forwards the browser's unsigned calls signed, the credentials never leaving the process", async () => {
    // Act
    const page = await fetch(`${base}/console`);
    const published = await fetch(`${base}/v1/topics/orders/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify({ body: "from the console", delayMs: 60_000 }),
    });
    const listed = await fetch(`${base}/v1/topics/orders/messages?state=scheduled`);

    // Assess
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(await page.text()).toContain("/console/app.js");
    expect(published.status).toBe(201);
    const { messageId } = (await published.json()) as { messageId: string };
    expect(((await listed.json()) as { messages: { messageId: string }[] }).messages.map((m) => m.messageId)).toEqual([messageId]);
    expect(api.verified).toBeGreaterThanOrEqual(2);
    expect(api.refused).toBe(0);
  });

  it("refuses pages of other origins and non-loopback Host names, and forwards nothing but the JSON API", async () => {
    // Act
    const foreign = await fetch(`${base}/v1/topics/orders/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://evil.example" },
      body: JSON.stringify({ body: "x" }),
    });
    const metrics = await fetch(`${base}/metrics`);

    // Assess
    expect(foreign.status).toBe(403);
    expect(metrics.status).toBe(404);
    expect(api.refused).toBe(0);
  });
});
