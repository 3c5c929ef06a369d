import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { App } from "../core/http/context.js";

async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Largest request body read (API Gateway's payload limit is 10 MB; the queue rejects bodies over 256 KiB itself). */
const BODY_LIMIT_BYTES = 10 * 1024 * 1024;

async function serve(app: App, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawUrl = req.url ?? "/";
  const [rawPath = "/", ...rest] = rawUrl.split("?");
  const rawQuery = rest.join("?");
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const method = req.method ?? "GET";
  const body = method === "GET" || method === "HEAD" ? undefined : await readBody(req, BODY_LIMIT_BYTES);
  const closed = new AbortController();
  res.once("close", () => closed.abort());
  const request = new Request(`http://${req.headers.host ?? "127.0.0.1"}${rawUrl}`, {
    method,
    headers,
    ...(body !== undefined && body.length > 0 && { body: new Uint8Array(body) }),
  });
  const response = await app.fetch(request, { rawPath, rawQuery, signal: closed.signal });
  const out: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    out[name] = value;
  });
  const payload = Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, { ...out, "content-length": String(payload.length) });
  res.end(payload);
}

/** The same App the Lambda handlers serve, on node:http. Keep-alive outlasts SDK idle connections (≥ 60 s). */
export function startHttpServer(app: App, port: number, host = "127.0.0.1"): Promise<Server> {
  const server = createServer((req, res) => {
    serve(app, req, res).catch((error) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "InternalError", message: String(error) } }));
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
