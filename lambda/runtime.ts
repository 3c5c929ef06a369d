import type { Context } from "aws-lambda";
import type { App } from "../core/http/context.js";
import { type Runtime, buildRuntime } from "./composition.js";
import { CapacityMeter } from "./dynamo/capacity.js";
import { CloudWatchMetrics, noteInvocation, powertoolsLogger } from "./observability.js";

type LambdaRuntime = Runtime & { meter: CapacityMeter; metrics: CloudWatchMetrics; logger: ReturnType<typeof powertoolsLogger> };

let runtime: Promise<LambdaRuntime> | undefined;

/** Built once per Lambda container, on first use, from the function's environment. */
export function getRuntime(): Promise<LambdaRuntime> {
  runtime ??= Promise.resolve().then(() => {
    const meter = new CapacityMeter();
    const logger = powertoolsLogger(process.env.POWERTOOLS_SERVICE_NAME || undefined);
    const metrics = CloudWatchMetrics.fromEnv(process.env);
    // A container serves one request at a time and is frozen between them: it does not linger with its
    // consume leases (LEASE_LINGER_MS 0); a lease written while calls answer quickly holds 1 s past the
    // look margin (LEASE_KEEP_MS) and is left to run out after the answer, any other is released before it — unless
    // the function's environment says otherwise.
    return { ...buildRuntime({ env: { LEASE_LINGER_MS: "0", LEASE_KEEP_MS: "1000", ...process.env }, log: logger, meter, metrics }), meter, metrics, logger };
  });
  return runtime;
}

/**
 * Runs one invocation's work with its observability: the logger learns the request id and cold start,
 * the meter starts from zero, and at the end the DynamoDB requests and units it consumed and every queue
 * metric it counted are written as EMF (whatever the work's outcome).
 */
export async function instrumented<T>(context: Partial<Context> | undefined, work: (rt: LambdaRuntime) => Promise<T>): Promise<T> {
  const rt = await getRuntime();
  noteInvocation(rt.logger.powertools, context);
  rt.metrics.captureColdStart(context?.functionName ?? process.env.AWS_LAMBDA_FUNCTION_NAME);
  rt.meter.reset();
  try {
    return await work(rt);
  } finally {
    rt.metrics.dynamodb(rt.meter.snapshot());
    rt.metrics.flush();
  }
}

/**
 * The app, with one log line per request naming the DynamoDB requests and capacity units it consumed
 * (a container serves one request at a time, so the meter's totals are exactly this request's), and the
 * invocation's metrics written when it answers.
 */
export async function getApp(context?: Partial<Context>): Promise<App> {
  const { app } = await getRuntime();
  return {
    routes: app.routes,
    refuse: (path, error, ctx) => app.refuse(path, error, ctx),
    fetch: (request, ctx) =>
      instrumented(context, async ({ meter, metrics, log }) => {
        const startedMs = Date.now();
        const response = await app.fetch(request, ctx);
        if (response.status >= 500) metrics.serverError();
        log.info("request", {
          method: request.method,
          path: new URL(request.url).pathname,
          status: response.status,
          durationMs: Date.now() - startedMs,
          requestId: response.headers.get("x-request-id") ?? response.headers.get("x-mq-request-id"),
          dynamodb: meter.total(),
        });
        return response;
      }),
  };
}
