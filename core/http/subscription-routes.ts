import { readJsonObject } from "../protocol/json.js";
import type { Queue } from "../queue.js";
import { assertName } from "../rules.js";
import { encodeGroupSettings, encodeTopicSettings } from "../settings.js";
import type { Route } from "./json-door.js";
import { jsonResponse } from "./json-errors.js";

const TOPIC = "/v1/topics/{topic}";
const GROUPS = "/v1/topics/{topic}/groups";
const GROUP = "/v1/topics/{topic}/groups/{group}";

/** Topic settings and the topic's groups: settings, listing, deletion (see the README's API section). */
export function subscriptionRoutes(queue: Queue): Route[] {
  const groups = queue.groups;
  const defaultVisibilitySeconds = queue.config.defaultVisibilitySeconds;
  const group = (g: Awaited<ReturnType<typeof groups.get>>) => {
    const out = { ...encodeGroupSettings(g.topic, g.group, g.settings, defaultVisibilitySeconds), createdAt: g.createdAtMs };
    // The signing secret of an HTTP push group is answered once, by the PUT that created it.
    if (out.push && g.newSecret !== undefined) out.push = { ...out.push, secret: g.newSecret };
    return out;
  };
  return [
    {
      method: "GET",
      path: "/v1/topics",
      handler: async (request, _p, ctx) => {
        const q = new URL(request.url).searchParams;
        const limit = q.get("limit");
        const cursor = q.get("cursor");
        const page = await groups.listTopics({
          ...(limit !== null && { limit: /^\d{1,4}$/.test(limit) ? Number(limit) : limit }),
          ...(cursor !== null && { cursor }),
        });
        return jsonResponse(200, page, ctx.requestId);
      },
    },
    {
      method: "GET",
      path: TOPIC,
      handler: async (_r, p, ctx) => {
        const topic = assertName("topic", p.topic);
        return jsonResponse(200, encodeTopicSettings(topic, await groups.getTopic(topic)), ctx.requestId);
      },
    },
    {
      method: "PUT",
      path: TOPIC,
      handler: async (request, p, ctx) => {
        const topic = assertName("topic", p.topic);
        const settings = await groups.putTopic(topic, await readJsonObject(request));
        return jsonResponse(200, encodeTopicSettings(topic, settings), ctx.requestId);
      },
    },
    {
      method: "GET",
      path: GROUPS,
      handler: async (request, p, ctx) => {
        const q = new URL(request.url).searchParams;
        const limit = q.get("limit");
        const cursor = q.get("cursor");
        const page = await groups.list(assertName("topic", p.topic), {
          ...(limit !== null && { limit: /^\d{1,4}$/.test(limit) ? Number(limit) : limit }),
          ...(cursor !== null && { cursor }),
        });
        return jsonResponse(200, { groups: page.groups.map(group), ...(page.cursor !== undefined && { cursor: page.cursor }) }, ctx.requestId);
      },
    },
    {
      method: "GET",
      path: GROUP,
      handler: async (_r, p, ctx) => jsonResponse(200, group(await groups.get(assertName("topic", p.topic), assertName("group", p.group))), ctx.requestId),
    },
    {
      method: "PUT",
      path: GROUP,
      handler: async (request, p, ctx) => {
        const g = await groups.put(assertName("topic", p.topic), assertName("group", p.group), await readJsonObject(request));
        return jsonResponse(200, group(g), ctx.requestId);
      },
    },
    {
      method: "POST",
      path: `${GROUP}/push/secret`,
      handler: async (request, p, ctx) => {
        const body = await readJsonObject(request);
        return jsonResponse(200, await groups.rotateSecret(assertName("topic", p.topic), assertName("group", p.group), body), ctx.requestId);
      },
    },
    {
      method: "DELETE",
      path: GROUP,
      handler: async (_r, p, ctx) => jsonResponse(200, await queue.deleteGroup(assertName("topic", p.topic), assertName("group", p.group)), ctx.requestId),
    },
  ];
}
