import { ErrorCode, QueueError } from "../errors.js";
import type { Logger } from "../ports.js";
import {
  decodeAck,
  decodeConsume,
  decodePublish,
  decodePublishBatch,
  encodeAck,
  encodeMessage,
  encodePublish,
  encodePublishBatch,
  readJsonObject,
} from "../protocol/json.js";
import type { Queue } from "../queue.js";
import { assertName } from "../rules.js";
import type { Door, RequestContext } from "./context.js";
import { jsonError, jsonResponse } from "./json-errors.js";
import { openApiText } from "./openapi.js";

export type Params = Record<string, string>;
export type Handler = (request: Request, params: Params, context: RequestContext) => Promise<Response>;
/** A JSON route: `{name}` segments of `path` (one path segment each) become `params`, percent-decoded. */
export interface Route {
  method: string;
  /** e.g. `/v1/topics/{topic}/groups/{group}/consume` */
  path: string;
  handler: Handler;
}

interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split(/(\{[A-Za-z]+\})/)
    .map((part) => {
      const name = /^\{([A-Za-z]+)\}$/.exec(part)?.[1];
      if (name) {
        names.push(name);
        return "([^/]+)";
      }
      return part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    })
    .join("");
  return { ...route, pattern: new RegExp(`^${source}$`), names };
}

function segment(value: string | undefined): string {
  try {
    return decodeURIComponent(value ?? "");
  } catch {
    throw new QueueError(ErrorCode.InvalidArgument, "path segment is not valid percent-encoding");
  }
}

/** The native JSON API (shared/API.md) over web-standard Request/Response. */
export function jsonDoor(queue: Queue, log: Logger, extraRoutes: readonly Route[] = []): Door {
  const table: Route[] = [
    {
      method: "GET",
      path: "/healthz",
      handler: async (_r, _p, ctx) => {
        await queue.health();
        return jsonResponse(200, { ok: true }, ctx.requestId);
      },
    },
    {
      method: "GET",
      path: "/openapi.json",
      handler: async (_r, _p, ctx) =>
        new Response(openApiText(), { status: 200, headers: { "content-type": "application/json", "x-request-id": ctx.requestId, "cache-control": "public, max-age=300" } }),
    },
    {
      method: "POST",
      path: "/v1/topics/{topic}/messages",
      handler: async (request, p, ctx) => {
        const body = await readJsonObject(request);
        const result = await queue.publish(decodePublish(assertName("topic", p.topic), body, request.headers));
        return jsonResponse(201, encodePublish(result), ctx.requestId);
      },
    },
    {
      method: "POST",
      path: "/v1/topics/{topic}/messages/batch",
      handler: async (request, p, ctx) => {
        const body = await readJsonObject(request);
        const outcomes = await queue.publishBatch(decodePublishBatch(assertName("topic", p.topic), body, request.headers));
        return jsonResponse(200, encodePublishBatch(outcomes), ctx.requestId);
      },
    },
    {
      method: "POST",
      path: "/v1/topics/{topic}/groups/{group}/consume",
      handler: async (request, p, ctx) => {
        const body = await readJsonObject(request);
        const input = decodeConsume(assertName("topic", p.topic), assertName("group", p.group), body);
        const messages = await queue.consume(
          { ...input, ...(ctx.answerByMs !== undefined && { answerByMs: ctx.answerByMs }) },
          ctx.signal,
        );
        return jsonResponse(200, { messages: messages.map(encodeMessage) }, ctx.requestId);
      },
    },
    {
      method: "POST",
      path: "/v1/topics/{topic}/groups/{group}/ack",
      handler: async (request, p, ctx) => {
        const body = await readJsonObject(request);
        const result = await queue.ack(decodeAck(assertName("topic", p.topic), assertName("group", p.group), body));
        return jsonResponse(200, encodeAck(result), ctx.requestId);
      },
    },
    ...extraRoutes,
  ];

  const routes = table.map(compile);

  return {
    name: "json",
    routes: routes.map((r) => ({ door: "json", method: r.method, path: r.path })),
    owns: (path) => path === "/healthz" || path === "/openapi.json" || path.startsWith("/v1/"),
    refuse: (error, context) => jsonError(error, context.requestId, log),
    async handle(request, context) {
      const path = new URL(request.url).pathname;
      try {
        const matching = routes.filter((r) => r.pattern.test(path));
        if (matching.length === 0) throw new QueueError(ErrorCode.NotFound, `no route for ${path.slice(0, 200)}; see the API reference`);
        const route = matching.find((r) => r.method === request.method);
        if (!route) {
          const allowed = matching.map((r) => r.method).join(", ");
          throw new QueueError(ErrorCode.MethodNotAllowed, `${request.method.slice(0, 20)} is not allowed on ${path.slice(0, 200)}; use ${allowed}`);
        }
        const match = route.pattern.exec(path) ?? [];
        const params: Params = {};
        match.slice(1).forEach((v, i) => {
          params[route.names[i] as string] = segment(v);
        });
        return await route.handler(request, params, context);
      } catch (error) {
        return jsonError(error, context.requestId, log);
      }
    },
  };
}
