import type { AddressInfo } from "node:net";
import { systemClock } from "../../core/clock.js";
import { silentLogger } from "../../core/ports.js";
import { firingToPublish } from "../../core/schedules.js";
import { type Runtime, buildRuntime } from "../../lambda/composition.js";
import { CapacityMeter } from "../../lambda/dynamo/capacity.js";
import { localDoor } from "../../local/local-door.js";
import { LocalScheduleService } from "../../local/local-schedules.js";
import { PrometheusMetrics } from "../../local/prometheus.js";
import { closeServer, startHttpServer } from "../../local/server.js";
import { freshTable } from "./dynamo.js";

export interface TestServer {
  url: string;
  runtime: Runtime;
  /** With `local`: the Prometheus metrics behind /metrics. */
  metrics?: PrometheusMetrics;
  close(): Promise<void>;
}

/**
 * The local runtime's HTTP server on a free loopback port, over a fresh DynamoDB Local table; with
 * `schedules`, the in-process recurring schedules of `npm start` too (stopped by close()).
 */
export async function startTestServer(env: Record<string, string> = {}, options: { schedules?: boolean; local?: boolean } = {}): Promise<TestServer> {
  const table = await freshTable();
  let schedules: LocalScheduleService | undefined;
  const meter = new CapacityMeter();
  const metrics = options.local ? new PrometheusMetrics({ processMetrics: false }) : undefined;
  metrics?.watch(meter);
  const runtime = buildRuntime({
    env: { ...env, TABLE_NAME: table.tableName },
    log: silentLogger,
    client: table.client,
    meter,
    ...(metrics && { metrics, doors: [localDoor({ metrics, log: silentLogger })] }),
    ...(options.schedules && {
      schedules: (queue) => {
        schedules = new LocalScheduleService({ clock: systemClock, log: silentLogger, fire: (firing) => queue.publish(firingToPublish(firing)) });
        return schedules;
      },
    }),
  });
  const server = await startHttpServer(runtime.app, 0, metrics ? { onAnswer: (status) => metrics.answered(status) } : {});
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    runtime,
    ...(metrics && { metrics }),
    close: async () => {
      schedules?.stopAll();
      await closeServer(server);
    },
  };
}
