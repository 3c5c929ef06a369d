import type { Lifecycle } from "../lifecycle.js";
import { decodeReschedule, encodeCancel, encodeList, encodeMessageState, encodeReschedule, encodeStats } from "../protocol/lifecycle-json.js";
import { readJsonObject } from "../protocol/json.js";
import { assertName } from "../rules.js";
import type { Route } from "./json-door.js";
import { jsonResponse } from "./json-errors.js";

const MESSAGE = "/v1/topics/{topic}/messages/{messageId}";
const MESSAGES = "/v1/topics/{topic}/messages";

/** Routes that manage messages between publish and delivery (see the README's "Manage scheduled messages"). */
export function lifecycleRoutes(control: Lifecycle): Route[] {
  return [
    {
      method: "GET",
      path: MESSAGE,
      handler: async (_request, p, ctx) => {
        const { record, nowMs } = await control.get(assertName("topic", p.topic), p.messageId);
        return jsonResponse(200, encodeMessageState(record, nowMs), ctx.requestId);
      },
    },
    {
      method: "DELETE",
      path: MESSAGE,
      handler: async (_request, p, ctx) => {
        const result = await control.cancel(assertName("topic", p.topic), p.messageId);
        return jsonResponse(200, encodeCancel(result), ctx.requestId);
      },
    },
    {
      method: "PATCH",
      path: MESSAGE,
      handler: async (request, p, ctx) => {
        const topic = assertName("topic", p.topic);
        const body = await readJsonObject(request);
        const result = await control.reschedule(topic, p.messageId, decodeReschedule(body, request.headers));
        return jsonResponse(200, encodeReschedule(result), ctx.requestId);
      },
    },
    {
      method: "DELETE",
      path: MESSAGES,
      handler: async (request, p, ctx) => {
        const key = new URL(request.url).searchParams.get("key");
        const result = await control.cancelByKey(assertName("topic", p.topic), key ?? undefined);
        return jsonResponse(200, { key: result.key, results: result.results.map(encodeCancel) }, ctx.requestId);
      },
    },
    {
      method: "GET",
      path: MESSAGES,
      handler: async (request, p, ctx) => {
        const q = new URL(request.url).searchParams;
        const result = await control.list(assertName("topic", p.topic), {
          state: q.get("state"),
          from: q.get("from"),
          to: q.get("to"),
          tag: q.get("tag"),
          limit: q.get("limit"),
          cursor: q.get("cursor"),
        });
        return jsonResponse(200, encodeList(result), ctx.requestId);
      },
    },
    {
      method: "GET",
      path: "/v1/topics/{topic}/stats",
      handler: async (_request, p, ctx) => {
        const stats = await control.stats(assertName("topic", p.topic));
        return jsonResponse(200, encodeStats(stats), ctx.requestId);
      },
    },
  ];
}
