import type { AddressInfo } from "node:net";
import { silentLogger } from "../../core/ports.js";
import { type Runtime, buildRuntime } from "../../lambda/composition.js";
import { closeServer, startHttpServer } from "../../local/server.js";
import { freshTable } from "./dynamo.js";

export interface TestServer {
  url: string;
  runtime: Runtime;
  close(): Promise<void>;
}

/** The local runtime's HTTP server on a free loopback port, over a fresh DynamoDB Local table. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const table = await freshTable();
  const runtime = buildRuntime({ env: { ...env, TABLE_NAME: table.tableName }, log: silentLogger, client: table.client });
  const server = await startHttpServer(runtime.app, 0);
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, runtime, close: () => closeServer(server) };
}
