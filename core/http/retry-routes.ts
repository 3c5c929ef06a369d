import { readJsonObject } from "../protocol/json.js";
import { decodeDeadLetterQuery, decodeNack, decodeRedrive, encodeDeadLetter, encodeNack } from "../protocol/retry-json.js";
import type { Queue } from "../queue.js";
import { assertName } from "../rules.js";
import { encodeGroupSettings, encodeTopicSettings } from "../settings.js";
import type { Route } from "./json-door.js";
import { jsonResponse } from "./json-errors.js";

const TOPIC = "/v1/topics/{topic}";
const GROUP = "/v1/topics/{topic}/groups/{group}";

/** Topic and group settings, nack and dead letters (see the README's API section). */
export function retryRoutes(queue: Queue): Route[] {
  const retry = queue.retry;
  const defaultVisibilitySeconds = retry.defaultVisibilitySeconds;
  return [
    {
      method: "GET",
      path: TOPIC,
      handler: async (_r, p, ctx) => {
        const topic = assertName("topic", p.topic);
        return jsonResponse(200, encodeTopicSettings(topic, await retry.getTopicSettings(topic)), ctx.requestId);
      },
    },
    {
      method: "PUT",
      path: TOPIC,
      handler: async (request, p, ctx) => {
        const topic = assertName("topic", p.topic);
        const settings = await retry.putTopicSettings(topic, await readJsonObject(request));
        return jsonResponse(200, encodeTopicSettings(topic, settings), ctx.requestId);
      },
    },
    {
      method: "GET",
      path: GROUP,
      handler: async (_r, p, ctx) => {
        const topic = assertName("topic", p.topic);
        const group = assertName("group", p.group);
        const settings = await retry.getGroupSettings(topic, group);
        return jsonResponse(200, encodeGroupSettings(topic, group, settings, defaultVisibilitySeconds), ctx.requestId);
      },
    },
    {
      method: "PUT",
      path: GROUP,
      handler: async (request, p, ctx) => {
        const topic = assertName("topic", p.topic);
        const group = assertName("group", p.group);
        const settings = await retry.putGroupSettings(topic, group, await readJsonObject(request));
        return jsonResponse(200, encodeGroupSettings(topic, group, settings, defaultVisibilitySeconds), ctx.requestId);
      },
    },
    {
      method: "POST",
      path: "/v1/topics/{topic}/groups/{group}/nack",
      handler: async (request, p, ctx) => {
        const input = decodeNack(assertName("topic", p.topic), assertName("group", p.group), await readJsonObject(request));
        return jsonResponse(200, encodeNack(await retry.nack(input)), ctx.requestId);
      },
    },
    {
      method: "GET",
      path: "/v1/topics/{topic}/groups/{group}/dead-letters",
      handler: async (request, p, ctx) => {
        const query = decodeDeadLetterQuery(assertName("topic", p.topic), assertName("group", p.group), new URL(request.url));
        const page = await retry.listDeadLetters(query);
        return jsonResponse(
          200,
          { deadLetters: page.deadLetters.map(encodeDeadLetter), ...(page.cursor !== undefined && { cursor: page.cursor }) },
          ctx.requestId,
        );
      },
    },
    {
      method: "POST",
      path: "/v1/topics/{topic}/groups/{group}/dead-letters/redrive",
      handler: async (request, p, ctx) => {
        const input = decodeRedrive(assertName("topic", p.topic), assertName("group", p.group), await readJsonObject(request));
        return jsonResponse(200, await retry.redrive(input), ctx.requestId);
      },
    },
  ];
}
