import { randomUUID } from "node:crypto";
import { type IncomingMessage, STATUS_CODES, type Server, type ServerResponse, createServer } from "node:http";
import { Server as NetServer, type Socket } from "node:net";
import { ErrorCode, QueueError } from "../core/errors.js";
import { REQUEST_BODY_LIMIT_BYTES, isFetchMethod, methodNotServed, requestTooLarge } from "../core/http/body.js";
import type { App } from "../core/http/context.js";
import { type GuardOptions, guardRequest } from "./guard.js";

export interface HttpServerOptions extends GuardOptions {
  /** Address to listen on; 127.0.0.1 by default. */
  host?: string;
  bodyLimitBytes?: number;
  /** Told the status of every answer sent (the local metrics count them by class). */
  onAnswer?: (status: number) => void;
}

export interface DrainReport {
  /** Requests that were still running when the grace period ended and whose connections were closed. */
  forced: number;
  tookMs: number;
}

/** The local server: node:http serving the App, with a graceful drain for shutdown. */
export type LocalHttpServer = Server & {
  /** Requests being served right now. */
  inFlight(): number;
  /**
   * Stops accepting connections, answers waiting long polls at once (with what they have), lets the
   * requests in flight finish for at most `graceMs`, then closes every connection. Responses sent while
   * draining carry `Connection: close`.
   */
  drain(graceMs: number): Promise<DrainReport>;
};

/** Answers with a prepared Response, `Connection: close` when asked (draining, or a body left unread). */
async function send(res: ServerResponse, response: Response, close: boolean, onAnswer?: (status: number) => void): Promise<void> {
  const out: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    out[name] = value;
  });
  const payload = Buffer.from(await response.arrayBuffer());
  if (res.destroyed) return;
  res.writeHead(response.status, { ...out, "content-length": String(payload.length), ...(close && { connection: "close" }) });
  res.end(payload);
  onAnswer?.(response.status);
}

/** Writes a whole HTTP/1.1 response on a raw socket (CONNECT, or a request Node could not parse) and closes it. */
async function sendRaw(socket: Socket, response: Response, status = response.status, headOnly = false): Promise<void> {
  const payload = Buffer.from(await response.arrayBuffer());
  if (socket.destroyed || !socket.writable) return;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n`;
  response.headers.forEach((value, name) => {
    head += `${name}: ${value}\r\n`;
  });
  head += `content-length: ${payload.length}\r\nconnection: close\r\n\r\n`;
  socket.end(headOnly ? Buffer.from(head, "latin1") : Buffer.concat([Buffer.from(head, "latin1"), payload]));
}

/** The body, or "too-large" as soon as it passes the limit (the rest is then read and dropped). */
function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer | "too-large" | "aborted"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limitBytes) {
        over = true;
        chunks.length = 0;
        resolve("too-large");
      } else chunks.push(chunk);
    });
    req.once("end", () => resolve(over ? "too-large" : Buffer.concat(chunks)));
    req.once("error", () => resolve("aborted"));
    req.once("close", () => resolve(over ? "too-large" : "aborted"));
  });
}

/**
 * The same App the Lambda handlers serve, on node:http. Keep-alive outlasts SDK idle connections (≥ 60 s).
 * Every request gets an answer in its door's error shape — a method the Fetch API cannot carry, a Host or
 * Origin the guard refuses, a body over the limit (413, refused before parsing), a CONNECT, bytes that are
 * not HTTP — never a reset and never an internal message.
 */
export function startHttpServer(app: App, port: number, options: HttpServerOptions = {}): Promise<LocalHttpServer> {
  const limit = options.bodyLimitBytes ?? REQUEST_BODY_LIMIT_BYTES;
  const shutdown = new AbortController();
  let draining = false;
  let inFlight = 0;
  let onIdle: (() => void) | undefined;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const rawUrl = req.url ?? "/";
    const queryAt = rawUrl.indexOf("?");
    const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    const rawQuery = queryAt < 0 ? "" : rawUrl.slice(queryAt + 1);
    const method = req.method ?? "GET";
    const refuse = (error: QueueError, close = draining) => send(res, app.refuse(rawPath.startsWith("/") ? rawPath : "/", error, { requestId }), close, options.onAnswer);

    if (!rawUrl.startsWith("/")) {
      return refuse(new QueueError(ErrorCode.InvalidArgument, "the request target must be a path such as /v1/topics/orders/messages, not an absolute URL or *"));
    }
    if (!isFetchMethod(method)) return refuse(methodNotServed(method));
    const refused = guardRequest({ method, path: rawPath, headers: req.headers }, options);
    if (refused) return refuse(refused);
    const length = req.headers["content-length"];
    const declared = length !== undefined && /^\d{1,15}$/.test(length.trim()) ? Number(length) : undefined;
    if (declared !== undefined && declared > limit) {
      req.resume();
      return refuse(requestTooLarge(declared), true);
    }

    const body = method === "GET" || method === "HEAD" ? Buffer.alloc(0) : await readBody(req, limit);
    if (body === "aborted") return;
    if (body === "too-large") return refuse(requestTooLarge(), true);

    const headers = new Headers();
    let request: Request;
    try {
      for (const [name, value] of Object.entries(req.headers)) {
        if (Array.isArray(value)) for (const v of value) headers.append(name, v);
        else if (value !== undefined) headers.set(name, value);
      }
      request = new Request(`http://${req.headers.host}${rawUrl}`, {
        method,
        headers,
        ...(body.length > 0 && { body: new Uint8Array(body) }),
      });
    } catch {
      return refuse(new QueueError(ErrorCode.InvalidArgument, "the request's target or headers cannot be read as a URL and headers; send a plain request"));
    }
    const gone = new AbortController();
    res.once("close", () => gone.abort());
    const response = await app.fetch(request, { requestId, rawPath, rawQuery, signal: AbortSignal.any([gone.signal, shutdown.signal]) });
    await send(res, response, draining, options.onAnswer);
  }

  const server = createServer({ requireHostHeader: false }, (req, res) => {
    inFlight++;
    res.once("close", () => {
      inFlight--;
      if (inFlight === 0) onIdle?.();
    });
    serve(req, res).catch(() => {
      // The App answers every error itself; this is a fault of the socket (the client went away).
      if (!res.headersSent && !res.destroyed) {
        void send(res, app.refuse("/", new QueueError(ErrorCode.InternalError, "internal error")), true);
      } else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;

  // An Expect other than 100-continue: 417 as Node would, but with the door's error body.
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const refusal = app.refuse(path.startsWith("/") ? path : "/", new QueueError(ErrorCode.InvalidArgument, "the only Expect this server meets is 100-continue; send the request without it"));
    void send(res, new Response(refusal.body, { status: 417, headers: refusal.headers }), true);
  });
  // CONNECT (a proxy tunnel) is not served: answer it like any other method instead of closing the socket.
  server.on("connect", (req: IncomingMessage, socket: Socket) => {
    socket.on("error", () => {});
    const path = (req.url ?? "").split("?")[0] ?? "";
    void sendRaw(socket, app.refuse(path.startsWith("/") ? path : "/", methodNotServed(req.method ?? "CONNECT"))).catch(() => socket.destroy());
  });
  // Bytes that are not HTTP/1.1: a 400 (431 for oversized headers) in the JSON error shape.
  server.on("clientError", (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    socket.on("error", () => {});
    if (error.code === "ECONNRESET" || !socket.writable) return socket.destroy();
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const message =
      status === 431
        ? "the request headers are too large; send at most 16 KiB of headers"
        : status === 408
          ? "the request was not received in time"
          : "the request is not valid HTTP/1.1; send a request line, headers and a body as RFC 9112 describes";
    // The door is the one the request line names, when there is one (its error shape is the client's).
    const line = /^([^ \r\n]+) (\/[^ ?\r\n]*)/.exec(error.rawPacket?.toString("latin1") ?? "");
    const refusal = app.refuse(line?.[2] ?? "/", new QueueError(ErrorCode.InvalidArgument, message));
    void sendRaw(socket, refusal, status, line?.[1] === "HEAD").catch(() => socket.destroy());
  });

  // Every socket, including those Node hands off (CONNECT, unparseable requests): a drain ends them all.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  const local = Object.assign(server, {
    inFlight: () => inFlight,
    async drain(graceMs: number): Promise<DrainReport> {
      const startedMs = Date.now();
      draining = true;
      shutdown.abort();
      // Stop listening but keep open connections: Node's http close() would also drop idle keep-alive
      // connections at once, racing a request a client is sending on one of them right now.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      const forced = inFlight;
      server.closeIdleConnections();
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
      return { forced, tookMs: Date.now() - startedMs };
    },
  });

  const host = options.host ?? "127.0.0.1";
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(local));
  });
}

export async function closeServer(server: Server): Promise<void> {
  if ("drain" in server) {
    await (server as LocalHttpServer).drain(0);
    return;
  }
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
