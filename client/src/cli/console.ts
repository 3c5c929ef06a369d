import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { DelayqClient } from "../client.js";

/** What serves the console's page and bundle (console/assets.ts of the repository, handed over by the launcher). */
export interface ConsoleFiles {
  consoleResponse(path: string, requestId: string, dir?: string, head?: boolean): Promise<Response | undefined>;
}

/** Paths the console calls that are forwarded to the endpoint: the public JSON API only. */
const FORWARDED = /^\/(?:v1\/|healthz$|openapi\.json$)/;
const BODY_LIMIT = 2 * 1024 * 1024;
const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

export interface ConsoleServer {
  url: string;
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { code, message } }));
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) reject(new Error("too large"));
      else chunks.push(chunk);
    });
    req.once("end", () => resolve(size === 0 ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

/**
 * The console for any endpoint: a server on 127.0.0.1 that serves the console's page and forwards its
 * API calls to `client`'s endpoint, signed with SigV4 (the user's credentials never reach the browser)
 * or with the API key. Like `npm start`, it answers only loopback Host names and same-origin pages.
 */
export async function startConsoleServer(client: DelayqClient, options: { port: number; assets: ConsoleFiles; consoleDir?: string }): Promise<ConsoleServer> {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const host = req.headers.host ?? "";
    const origin = req.headers.origin;
    if (!LOOPBACK.test(host)) return reply(res, 403, "Forbidden", "this console answers only localhost, 127.0.0.1 or [::1]");
    if (origin !== undefined && origin !== `http://${host}`) return reply(res, 403, "Forbidden", "requests from web pages of other origins are refused");
    try {
      if (url.pathname === "/" || url.pathname === "/console" || url.pathname.startsWith("/console/")) {
        if (req.method !== "GET" && req.method !== "HEAD") return reply(res, 405, "MethodNotAllowed", "use GET");
        if (url.pathname === "/") {
          res.writeHead(302, { location: "/console" });
          return res.end();
        }
        const response = await options.assets.consoleResponse(url.pathname, "console", options.consoleDir, req.method === "HEAD");
        if (!response) return reply(res, 404, "NotFound", `no console file ${url.pathname}`);
        res.writeHead(response.status, Object.fromEntries(response.headers));
        return res.end(Buffer.from(await response.arrayBuffer()));
      }
      if (!FORWARDED.test(url.pathname)) return reply(res, 404, "NotFound", `${url.pathname} is not forwarded: only the JSON API is (no /metrics on a deployed stack: see its CloudWatch dashboard)`);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readBody(req);
      if (body !== undefined && !/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
        return reply(res, 415, "UnsupportedMediaType", "send JSON bodies with Content-Type: application/json");
      }
      const gone = new AbortController();
      res.once("close", () => gone.abort());
      const answer = await client.forward(req.method ?? "GET", `${url.pathname}${url.search}`, body, gone.signal);
      const headers: Record<string, string> = { "content-type": answer.headers.get("content-type") ?? "application/json" };
      for (const name of ["x-request-id", "retry-after"]) {
        const value = answer.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      res.writeHead(answer.status, headers);
      res.end(Buffer.from(await answer.arrayBuffer()));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent) reply(res, 502, "BadGateway", `the endpoint could not be reached: ${message.slice(0, 200)}`);
      else res.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/console`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
