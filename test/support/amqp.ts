import type { AddressInfo } from "node:net";
import { AmqpBroker } from "../../core/amqp/broker.js";
import { parseAmqpCredentials } from "../../core/amqp/credentials.js";
import type { AmqpLimits } from "../../core/amqp/engine.js";
import { systemClock } from "../../core/clock.js";
import { silentLogger } from "../../core/ports.js";
import { type Runtime, buildRuntime } from "../../lambda/composition.js";
import { type AmqpServer, startAmqpServer } from "../../local/amqp-server.js";
import { closeServer, startHttpServer } from "../../local/server.js";
import { freshTable } from "./dynamo.js";

/**
 * How late a message may arrive in the real-socket tests before they fail. Only "never early" is exact;
 * this bound catches a message that does not come, on a shared machine whose load can delay everything
 * by seconds. Precision is measured by the bench (`npm run bench -- --scenario amqp`), not asserted here.
 */
export const LATE_TOLERANCE_MS = 15_000;

export interface AmqpTestServer {
  /** amqp://guest:guest@127.0.0.1:port/ (or the first configured user's URL). */
  url: string;
  port: number;
  httpUrl: string;
  runtime: Runtime;
  amqp: AmqpServer;
  close(): Promise<void>;
}

/** The local runtime's AMQP door and HTTP server on free loopback ports, over a fresh DynamoDB Local table. */
export async function startAmqpTestServer(options: { credentials?: string; limits?: Partial<AmqpLimits>; env?: Record<string, string> } = {}): Promise<AmqpTestServer> {
  const table = await freshTable();
  const runtime = buildRuntime({ env: { ...options.env, TABLE_NAME: table.tableName }, log: silentLogger, client: table.client });
  const http = await startHttpServer(runtime.app, 0);
  const amqp = await startAmqpServer({
    broker: new AmqpBroker(runtime.queue, silentLogger, { store: runtime.store }),
    clock: systemClock,
    log: silentLogger,
    users: parseAmqpCredentials(options.credentials),
    port: 0,
    ...(options.limits && { limits: options.limits }),
  });
  const { port } = http.address() as AddressInfo;
  return {
    url: `amqp://guest:guest@127.0.0.1:${amqp.port}/`,
    port: amqp.port,
    httpUrl: `http://127.0.0.1:${port}`,
    runtime,
    amqp,
    close: async () => {
      await amqp.drain(1000);
      await runtime.queue.close();
      await closeServer(http);
    },
  };
}
