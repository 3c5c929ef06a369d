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

export type Params = Record<string, string>;
export type Handler = (request: Request, params: Params, context: RequestContext) => Promise<Response>;
/** A JSON route: capture groups of `pattern` become `params` named by `names` (topic, group by default). */
export interface Route {
  method: string;
  pattern: RegExp;
  names?: readonly string[];
  handler: Handler;
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
  const routes: Route[] = [
    {
      method: "GET",
      pattern: /^\/healthz$/,
      handler: async (_r, _p, ctx) => {
        await queue.health();
        return jsonResponse(200, { ok: true }, ctx.requestId);
      },
    },
    {
      method: "POST",
      pattern: /^\/v1\/topics\/([^/]+)\/messages$/,
      handler: async (request, p, ctx) => {
        const body = await readJsonObject(request);
        const result = await queue.publish(decodePublish(assertName("topic", p.topic), body, request.headers));
        return jsonResponse(201, encodePublish(result), ctx.requestId);
      },
    },
    {
      method: "POST",
      pattern: /^\/v1\/topics\/([^/]+)\/messages\/batch$/,
      names: ["topic"],
      handler: async (request, p, ctx) => {
        const body = await readJsonObject(request);
        const outcomes = await queue.publishBatch(decodePublishBatch(assertName("topic", p.topic), body, request.headers));
        return jsonResponse(200, encodePublishBatch(outcomes), ctx.requestId);
      },
    },
    {
      method: "POST",
      pattern: /^\/v1\/topics\/([^/]+)\/groups\/([^/]+)\/consume$/,
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
      pattern: /^\/v1\/topics\/([^/]+)\/groups\/([^/]+)\/ack$/,
      handler: async (request, p, ctx) => {
        const body = await readJsonObject(request);
        const result = await queue.ack(decodeAck(assertName("topic", p.topic), assertName("group", p.group), body));
        return jsonResponse(200, encodeAck(result), ctx.requestId);
      },
    },
    ...extraRoutes,
  ];

  return {
    name: "json",
    async handle(request, context) {
      const path = new URL(request.url).pathname;
      if (path !== "/healthz" && !path.startsWith("/v1/")) return undefined;
      try {
        const matching = routes.filter((r) => r.pattern.test(path));
        if (matching.length === 0) throw new QueueError(ErrorCode.NotFound, `no route for ${path}; see the API reference`);
        const route = matching.find((r) => r.method === request.method);
        if (!route) {
          throw new QueueError(ErrorCode.MethodNotAllowed, `${request.method} is not allowed on ${path}; use ${matching.map((r) => r.method).join(", ")}`);
        }
        const match = route.pattern.exec(path) ?? [];
        const params: Params = {};
        const names = route.names ?? ["topic", "group"];
        match.slice(1).forEach((v, i) => {
          params[names[i] as string] = segment(v);
        });
        return await route.handler(request, params, context);
      } catch (error) {
        return jsonError(error, context.requestId, log);
      }
    },
  };
}
