import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleAssets } from "../../console/assets.js";
import { openApiDocument } from "../../core/http/openapi.js";
import { LOCAL_ROUTES } from "../../local/local-door.js";
import { closeServer, startHttpServer } from "../../local/server.js";
import { type TestServer, startTestServer } from "../support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({}, { local: true });
});
afterAll(() => server?.close());

describe("the local runtime's /metrics and /console", () => {
  it("GET /metrics answers the Prometheus text format with the queue's counters, and JSON for the console", async () => {
    // Prepare: a publish, a delivery, an ack
    const topic = `m-${Math.random().toString(36).slice(2, 8)}`;
    const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>);
    await post(`/v1/topics/${topic}/messages`, { body: "x" });
    const { messages } = await post(`/v1/topics/${topic}/groups/g/consume`, { waitSeconds: 5 });
    await post(`/v1/topics/${topic}/groups/g/ack`, { receiptHandles: [messages[0].receiptHandle] });

    // Act
    const text = await fetch(`${server.url}/metrics`);
    const json = await fetch(`${server.url}/metrics`, { headers: { accept: "application/json" } });

    // Assess
    expect(text.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await text.text();
    expect(body).toContain(`delayq_published_total{topic="${topic}"} 1`);
    expect(body).toContain(`delayq_delivered_total{topic="${topic}",door="json"} 1`);
    expect(body).toContain(`delayq_acked_total{topic="${topic}"} 1`);
    expect(body).toMatch(new RegExp(`delayq_lateness_ms_count\\{topic="${topic}"\\} 1`));
    expect(body).toMatch(/delayq_dynamodb_requests_total\{operation="insertMessage"\} \d+/);
    expect(body).toMatch(/delayq_http_responses_total\{status="2xx"\} \d+/);
    const metrics = ((await json.json()) as { metrics: { name: string }[] }).metrics.map((m) => m.name);
    expect(metrics).toEqual(expect.arrayContaining(["delayq_published_total", "delayq_lateness_ms", "delayq_sweeper_oldest_due_age_ms"]));
  });

  it("serves the console with a strict content security policy, and refuses other methods", async () => {
    const page = await fetch(`${server.url}/console`);
    const script = await fetch(`${server.url}/console/app.js`);
    const post = await fetch(`${server.url}/console`, { method: "POST" });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'.*connect-src 'self'.*frame-ancestors 'none'/);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(script.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(post.status).toBe(405);
    expect((await fetch(`${server.url}/console/nothing.js`)).status).toBe(404);
  });

  it("keeps the bundle small (the README states its size): JavaScript under 60 KiB and CSS under 4 KiB gzipped", async () => {
    const { sizes } = await consoleAssets();
    expect(sizes.jsGzip).toBeLessThan(60 * 1024);
    expect(sizes.cssGzip).toBeLessThan(4 * 1024);
    expect(sizes.js).toBeGreaterThan(10_000);
  });

  it("with LOCAL_API_KEY, /metrics needs the key while the console's page stays open (it asks for the key)", async () => {
    const keyed = await startHttpServer(server.runtime.app, 0, { apiKey: "k-123" });
    const url = `http://127.0.0.1:${(keyed.address() as { port: number }).port}`;
    try {
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { "x-api-key": "k-123" } })).status).toBe(200);
      expect((await fetch(`${url}/console`)).status).toBe(200);
      expect((await fetch(`${url}/metrics`, { headers: { "x-api-key": "k-123", origin: "http://evil.example" } })).status).toBe(403);
    } finally {
      await closeServer(keyed);
    }
  });

  it("are local-runtime routes only: not in the OpenAPI document, which covers exactly the JSON door", () => {
    const paths = Object.keys((openApiDocument() as { paths: Record<string, unknown> }).paths);
    for (const route of LOCAL_ROUTES) expect(paths).not.toContain(route.path);
    const local = server.runtime.app.routes.filter((r) => r.door === "local").map((r) => `${r.method} ${r.path}`);
    expect(local).toEqual(LOCAL_ROUTES.map((r) => `${r.method} ${r.path}`));
  });
});
