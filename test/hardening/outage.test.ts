import { createServer, type Server, type Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../core/ports.js";
import { signature, stringToSign } from "../../core/protocol/mq-signature.js";
import { buildRuntime } from "../../lambda/composition.js";
import { createDynamoClient } from "../../lambda/dynamo/client.js";
import { freePort } from "../../local/dynamo-local.js";
import { type LocalHttpServer, startHttpServer } from "../../local/server.js";
import { freshTable } from "../support/dynamo.js";

/**
 * A store outage is the service's fault, not the caller's: 503 ServiceUnavailable with Retry-After on both
 * doors, and /healthz says 503 with the reason — for throttling, for timeouts and for an unreachable
 * DynamoDB. Each case runs the local server over a real socket.
 */

const servers: LocalHttpServer[] = [];
const hung: Server[] = [];
afterAll(async () => {
  for (const s of servers) await s.drain(0);
  for (const h of hung) h.close();
});

async function serve(client: ReturnType<typeof createDynamoClient>, tableName = "delayq") {
  const runtime = buildRuntime({ env: { TABLE_NAME: tableName, MQ_CREDENTIALS: "AK:SK" }, log: silentLogger, client });
  const server = await startHttpServer(runtime.app, 0);
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function answers(url: string) {
  const publish = await fetch(`${url}/v1/topics/t/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"body":"x"}' });
  const health = await fetch(`${url}/healthz`);
  const date = new Date().toUTCString();
  const toSign = stringToSign({ method: "POST", contentMd5: "", contentType: "text/xml", date, mqHeaders: { "x-mq-version": "2015-06-06" }, resource: "/topics/t/messages" });
  const xml = await fetch(`${url}/topics/t/messages`, {
    method: "POST",
    headers: { date, "content-type": "text/xml", "x-mq-version": "2015-06-06", authorization: `MQ AK:${signature("SK", toSign)}` },
    body: "<Message><MessageBody>x</MessageBody></Message>",
  });
  return {
    publish: { status: publish.status, retryAfter: publish.headers.get("retry-after"), body: await publish.json() },
    health: { status: health.status, retryAfter: health.headers.get("retry-after"), body: await health.json() },
    xml: { status: xml.status, retryAfter: xml.headers.get("retry-after"), body: await xml.text() },
  };
}

describe("store outages answer 503 with Retry-After on both doors", () => {
  it("DynamoDB unreachable (nothing listens on its port)", async () => {
    const port = await freePort();
    const url = await serve(createDynamoClient(`http://127.0.0.1:${port}`, 2));

    const { publish, health, xml } = await answers(url);

    expect(publish).toMatchObject({ status: 503, retryAfter: "2", body: { error: { code: "ServiceUnavailable", message: expect.stringContaining("unreachable (ECONNREFUSED)") } } });
    expect(health).toMatchObject({ status: 503, retryAfter: "2", body: { error: { code: "ServiceUnavailable", message: expect.stringMatching(/DynamoDB is unreachable .* on ping/) } } });
    expect(xml.status).toBe(503);
    expect(xml.retryAfter).toBe("2");
    expect(xml.body).toContain("<Code>ServiceUnavailable</Code>");
  });

  it("DynamoDB accepting connections but never answering (a timeout)", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    hung.push(silent);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const port = (silent.address() as { port: number }).port;
    const url = await serve(createDynamoClient(`http://127.0.0.1:${port}`, 2, { connectionTimeout: 200, requestTimeout: 300 }));

    const { publish, health, xml } = await answers(url);
    for (const s of sockets) s.destroy();

    expect(publish).toMatchObject({ status: 503, retryAfter: "2", body: { error: { code: "ServiceUnavailable", message: expect.stringContaining("not answering in time") } } });
    expect(health.status).toBe(503);
    expect(xml.status).toBe(503);
  });

  it("DynamoDB throttling every request after the SDK's retries", async () => {
    const table = await freshTable({ seed: 1, throttle: 1, lostResponse: 0, staleIndex: 0 });
    const url = await serve(table.client, table.tableName);

    const { publish, health, xml } = await answers(url);

    expect(publish).toMatchObject({ status: 503, retryAfter: "1", body: { error: { code: "ServiceUnavailable", message: expect.stringContaining("throttling or unavailable") } } });
    expect(health.status).toBe(503);
    expect(xml).toMatchObject({ status: 503, retryAfter: "1" });
    expect(table.faults?.throttled).toBeGreaterThan(0);
  });
});
