import { type IncomingHttpHeaders, type Server, createServer } from "node:http";

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** The receiver's notion of now when the request arrived (the queue's clock in the contract cases). */
  atMs: number;
}

/** A webhook receiver on a real socket (127.0.0.1, a free port): records every request, answers as `respond` says. */
export async function startWebhook(options: {
  now: () => number;
  respond?: (r: Received, index: number) => { status: number; delayMs?: number } | Promise<{ status: number; delayMs?: number }>;
}): Promise<{ url: string; received: Received[]; close(): Promise<void>; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const r: Received = { headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), atMs: options.now() };
      received.push(r);
      const answer = (await options.respond?.(r, received.length - 1)) ?? { status: 200 };
      const send = () => {
        if (!res.destroyed) res.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.status < 300 ? "ok" : "nope");
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
