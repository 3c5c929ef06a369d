import type { ScheduleService } from "../schedule-ports.js";
import { assertScheduleDefinition, assertScheduleName } from "../schedules.js";
import { readJsonObject } from "../protocol/json.js";
import type { Route } from "./json-door.js";
import { jsonResponse } from "./json-errors.js";

const ONE = "/v1/schedules/{name}";
const ALL = "/v1/schedules";

/** Recurring schedules: create, list, read, delete (README: "Recurring schedules"). */
export function scheduleRoutes(schedules: ScheduleService): Route[] {
  return [
    {
      method: "POST",
      path: ALL,
      handler: async (request, _p, ctx) => {
        const definition = assertScheduleDefinition(await readJsonObject(request));
        await schedules.create(definition);
        return jsonResponse(201, definition, ctx.requestId);
      },
    },
    {
      method: "GET",
      path: ALL,
      handler: async (_request, _p, ctx) => jsonResponse(200, { schedules: await schedules.list() }, ctx.requestId),
    },
    {
      method: "GET",
      path: ONE,
      handler: async (_request, p, ctx) => jsonResponse(200, await schedules.get(assertScheduleName(p.name)), ctx.requestId),
    },
    {
      method: "DELETE",
      path: ONE,
      handler: async (_request, p, ctx) => {
        const name = assertScheduleName(p.name);
        await schedules.delete(name);
        return jsonResponse(200, { name, deleted: true }, ctx.requestId);
      },
    },
  ];
}
