import { randomUUID } from "node:crypto";
import { ErrorCode } from "../errors.js";
import type { Logger } from "../ports.js";
import type { App, Door, RequestContext } from "./context.js";
import { jsonResponse } from "./json-errors.js";

/** Routes a request to the first door that claims its path. The same App serves Lambda and the local server. */
export function createApp(doors: readonly Door[], log: Logger): App {
  return {
    async fetch(request, partial = {}) {
      const url = new URL(request.url);
      const context: RequestContext = {
        requestId: partial.requestId ?? randomUUID(),
        rawPath: partial.rawPath ?? url.pathname,
        rawQuery: partial.rawQuery ?? url.search.replace(/^\?/, ""),
        ...(partial.answerByMs !== undefined && { answerByMs: partial.answerByMs }),
        ...(partial.signal !== undefined && { signal: partial.signal }),
      };
      for (const door of doors) {
        try {
          const response = await door.handle(request, context);
          if (response) return response;
        } catch (error) {
          log.error("door-failed", { door: door.name, requestId: context.requestId, error: String(error) });
          return jsonResponse(500, { error: { code: ErrorCode.InternalError, message: "internal error" } }, context.requestId);
        }
      }
      return jsonResponse(
        404,
        { error: { code: ErrorCode.NotFound, message: `no route for ${url.pathname}; see the API reference` } },
        context.requestId,
      );
    },
  };
}
