import { readJsonObject } from "../protocol/json.js";
import { decodeDeadLetterQuery, decodeNack, decodeRedrive, encodeDeadLetter, encodeNack } from "../protocol/retry-json.js";
import type { Queue } from "../queue.js";
import { assertName } from "../rules.js";
import type { Route } from "./json-door.js";
import { jsonResponse } from "./json-errors.js";

/** Nack, dead letters and redrive (see the README's API section). */
export function retryRoutes(queue: Queue): Route[] {
  const retry = queue.retry;
  return [
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
