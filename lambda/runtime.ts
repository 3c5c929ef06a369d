import type { App } from "../core/http/context.js";
import { jsonLogger } from "../core/log.js";
import { type Runtime, buildRuntime } from "./composition.js";
import { CapacityMeter } from "./dynamo/capacity.js";

let runtime: Promise<Runtime & { meter: CapacityMeter }> | undefined;

/** Built once per Lambda container, on first use, from the function's environment. */
export function getRuntime(): Promise<Runtime & { meter: CapacityMeter }> {
  runtime ??= Promise.resolve().then(() => {
    const meter = new CapacityMeter();
    const log = jsonLogger({ fn: process.env.AWS_LAMBDA_FUNCTION_NAME });
    // A container serves one request at a time and is frozen between them: it releases its consume leases
    // before each answer (LEASE_LINGER_MS 0) unless the function's environment says otherwise.
    return { ...buildRuntime({ env: { LEASE_LINGER_MS: "0", ...process.env }, log, meter }), meter };
  });
  return runtime;
}

/**
 * The app, with one log line per request naming the DynamoDB requests and capacity units it consumed
 * (a container serves one request at a time, so the meter's totals are exactly this request's).
 */
export async function getApp(): Promise<App> {
  const { app, meter, log } = await getRuntime();
  return {
    routes: app.routes,
    refuse: (path, error, context) => app.refuse(path, error, context),
    async fetch(request, context) {
      meter.reset();
      const startedMs = Date.now();
      const response = await app.fetch(request, context);
      log.info("request", {
        method: request.method,
        path: new URL(request.url).pathname,
        status: response.status,
        durationMs: Date.now() - startedMs,
        requestId: response.headers.get("x-request-id") ?? response.headers.get("x-mq-request-id"),
        dynamodb: meter.total(),
      });
      return response;
    },
  };
}
