import { consoleResponse } from "../console/assets.js";
import { ErrorCode, QueueError } from "../core/errors.js";
import type { Door } from "../core/http/context.js";
import { jsonError, jsonResponse } from "../core/http/json-errors.js";
import type { Logger } from "../core/ports.js";
import type { PrometheusMetrics } from "./prometheus.js";

/**
 * Routes of the local runtime only, beside the JSON API (they are not part of it: the OpenAPI document
 * does not describe them and the stack does not route them). On AWS, CloudWatch has the metrics and
 * `delayq console` serves the console.
 */
export const LOCAL_ROUTES = [
  { method: "GET", path: "/metrics" },
  { method: "GET", path: "/console" },
  { method: "GET", path: "/console/app.js" },
  { method: "GET", path: "/console/app.css" },
] as const;

export interface LocalDoorOptions {
  metrics: PrometheusMetrics;
  log: Logger;
  /** Where the console's folder is (default: beside console/assets.ts). */
  consoleDir?: string;
}

/**
 * `GET /metrics`: the Prometheus text format (or, with `Accept: application/json`, the same registry as
 * JSON — what the console's charts read); `GET /console`: the web console. GET and HEAD only.
 */
export function localDoor(options: LocalDoorOptions): Door {
  const { metrics, log } = options;
  const isConsole = (path: string) => path === "/console" || path === "/console/" || path.startsWith("/console/");
  return {
    name: "local",
    routes: LOCAL_ROUTES.map((r) => ({ door: "local", method: r.method, path: r.path })),
    owns: (path) => path === "/metrics" || isConsole(path),
    refuse: (error, context) => jsonError(error, context.requestId, log),
    async handle(request, context) {
      const path = new URL(request.url).pathname;
      try {
        if (request.method !== "GET" && request.method !== "HEAD") {
          throw new QueueError(ErrorCode.MethodNotAllowed, `${request.method.slice(0, 20)} is not allowed on ${path.slice(0, 200)}; use GET`);
        }
        const head = request.method === "HEAD";
        if (path === "/metrics") {
          if (/application\/json/i.test(request.headers.get("accept") ?? "")) {
            return jsonResponse(200, { metrics: await metrics.json() }, context.requestId, { "cache-control": "no-store" });
          }
          const text = await metrics.text();
          return new Response(head ? null : text, {
            status: 200,
            headers: { "content-type": metrics.contentType, "x-request-id": context.requestId, "cache-control": "no-store" },
          });
        }
        if (path === "/console/") {
          return new Response(null, { status: 308, headers: { location: "/console", "x-request-id": context.requestId } });
        }
        const response = await consoleResponse(path, context.requestId, options.consoleDir, head);
        if (!response) throw new QueueError(ErrorCode.NotFound, `no console file ${path.slice(0, 200)}; open /console`);
        return response;
      } catch (error) {
        return jsonError(error, context.requestId, log);
      }
    },
  };
}
