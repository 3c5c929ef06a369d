import { connect } from "node:net";
import { networkInterfaces } from "node:os";
import { afterAll, afterEach, beforeAll, describe, expect, it, inject } from "vitest";
import { MemoryStore } from "../../core/memory-store.js";
import { silentLogger } from "../../core/ports.js";
import { signature, stringToSign } from "../../core/protocol/mq-signature.js";
import { buildRuntime } from "../../lambda/composition.js";
import { guardRequest } from "../../local/guard.js";
import { type LocalHttpServer, startHttpServer } from "../../local/server.js";
import { startLocal, stopAllLocal } from "../support/local-process.js";
import { rawRequest } from "../support/raw-http.js";

/** The local runtime is safe by default: loopback names only, no foreign web page, an optional API key. */

const guard = (headers: Record<string, string>, options = {}, method = "POST", path = "/v1/topics/t/messages") =>
  guardRequest({ method, path, headers }, options)?.code;

describe("the local guard", () => {
  it("serves loopback names and LOCAL_HOSTS, refuses other hosts (DNS rebinding) and malformed Host values", () => {
    for (const host of ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:8080", "127.9.8.7", "[::1]", "[::1]:8080", "app.localhost", "LOCALHOST"]) {
      expect(guard({ host }), host).toBeUndefined();
    }
    for (const host of ["evil.example", "127.0.0.1.nip.io", "10.0.0.5", "192.168.1.2:8080", "[::2]", "localhost.evil.example"]) {
      expect(guard({ host }), host).toBe("Forbidden");
    }
    for (const host of ["", "a b", "[::", "x:99999", "user:pw@evil", "evil/path", "127.0.0.1:"]) {
      expect(guard({ host }), host).toBe("InvalidArgument");
    }
    expect(guard({}), "no Host").toBe("InvalidArgument");
    expect(guard({ host: "queue.internal:8080" }, { allowedHosts: ["queue.internal"] })).toBeUndefined();
  });

  it("refuses requests sent by web pages of other origins, even body-less simple POSTs", () => {
    expect(guard({ host: "127.0.0.1", origin: "http://evil.example" }, {}, "POST", "/v1/topics/t/groups/g/consume")).toBe("Forbidden");
    expect(guard({ host: "127.0.0.1", origin: "null" })).toBe("Forbidden");
    expect(guard({ host: "127.0.0.1", origin: "file://" })).toBe("Forbidden");
    expect(guard({ host: "127.0.0.1", origin: "http://localhost:3000" })).toBeUndefined();
  });

  it("requires LOCAL_API_KEY on the JSON API when set, except GET /healthz; the RocketMQ door keeps its signature", () => {
    const options = { apiKey: "s3cret" };
    expect(guard({ host: "127.0.0.1" }, options)).toBe("Unauthorized");
    expect(guard({ host: "127.0.0.1", authorization: "Bearer wrong" }, options)).toBe("Unauthorized");
    expect(guard({ host: "127.0.0.1", authorization: "Bearer s3cret" }, options)).toBeUndefined();
    expect(guard({ host: "127.0.0.1", "x-api-key": "s3cret" }, options)).toBeUndefined();
    expect(guard({ host: "127.0.0.1" }, options, "GET", "/healthz")).toBeUndefined();
    expect(guard({ host: "127.0.0.1" }, options, "POST", "/topics/t/messages")).toBeUndefined();
  });
});

describe("the local server with its guard, over a socket", () => {
  let server: LocalHttpServer;
  let port: number;
  beforeAll(async () => {
    const runtime = buildRuntime({ env: { TABLE_NAME: "t", MQ_CREDENTIALS: "AK:SK" }, log: silentLogger, store: new MemoryStore() });
    server = await startHttpServer(runtime.app, 0, { apiKey: "s3cret" });
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server?.drain(0));

  const send = (lines: string[], body = "") =>
    rawRequest(port, `${lines.join("\r\n")}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);

  it("answers refusals in the door's error shape and never with CORS headers", async () => {
    const rebound = await send(["POST /v1/topics/t/messages HTTP/1.1", "Host: evil.example", "Content-Type: application/json", "x-api-key: s3cret"], '{"body":"x"}');
    const xml = await send(["GET /topics/t/messages?consumer=g HTTP/1.1", "Host: evil.example"]);
    const page = await send(["POST /v1/topics/t/groups/g/consume HTTP/1.1", "Host: 127.0.0.1", "Origin: http://evil.example", "x-api-key: s3cret"]);
    const keyless = await send(["POST /v1/topics/t/messages HTTP/1.1", `Host: 127.0.0.1:${port}`, "Content-Type: application/json"], '{"body":"x"}');
    const keyed = await send(["POST /v1/topics/t/messages HTTP/1.1", `Host: localhost:${port}`, "Content-Type: application/json", "Authorization: Bearer s3cret"], '{"body":"x"}');

    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.text).error).toMatchObject({ code: "Forbidden", message: expect.stringContaining("LOCAL_HOSTS") });
    expect(xml.status).toBe(403);
    expect(xml.text).toContain("<Code>AccessDenied</Code>");
    expect(page.status).toBe(403);
    expect(keyless.status).toBe(401);
    expect(keyless.headers.get("www-authenticate")).toBe('Bearer realm="delayq"');
    expect(keyed.status).toBe(201);
    for (const a of [rebound, xml, page, keyless, keyed]) expect([...a.headers.keys()].some((k) => k.startsWith("access-control-"))).toBe(false);
  });
});

function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("embedded DynamoDB Local", () => {
  afterEach(() => stopAllLocal());
  const address = nonLoopbackAddress();

  it.skipIf(address === undefined)("listens on 127.0.0.1 only (this machine's other address cannot reach it)", async () => {
    const port = Number(new URL(inject("dynamoEndpoint")).port);
    expect(await reachable("127.0.0.1", port)).toBe(true);
    expect(await reachable(address as string, port)).toBe(false);
  });

  it("under npm start with LOCAL_API_KEY: the JSON API wants the key, the RocketMQ door's secret is the key, not the public default", async () => {
    const local = await startLocal({ env: { LOCAL_API_KEY: "k-123" } });
    const xmlPublish = async (secret: string) => {
      const date = new Date().toUTCString();
      const toSign = stringToSign({ method: "POST", contentMd5: "", contentType: "text/xml", date, mqHeaders: { "x-mq-version": "2015-06-06" }, resource: "/topics/t/messages" });
      const r = await fetch(`${local.url}/topics/t/messages`, {
        method: "POST",
        headers: { date, "content-type": "text/xml", "x-mq-version": "2015-06-06", authorization: `MQ delayq-local:${signature(secret, toSign)}` },
        body: "<Message><MessageBody>x</MessageBody></Message>",
      });
      return r.status;
    };
    const json = (headers: Record<string, string>) =>
      fetch(`${local.url}/v1/topics/t/messages`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: '{"body":"x"}' }).then((r) => r.status);

    expect(await json({})).toBe(401);
    expect(await json({ authorization: "Bearer k-123" })).toBe(201);
    expect(await xmlPublish("delayq-local-secret")).toBe(403);
    expect(await xmlPublish("k-123")).toBe(201);
    expect(local.output()).toContain("LOCAL_API_KEY required on the JSON API");
  }, 120_000);
});
