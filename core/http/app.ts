import { randomUUID } from "node:crypto";
import { ErrorCode, QueueError } from "../errors.js";
import type { Logger } from "../ports.js";
import { assertPlainPath } from "./body.js";
import type { App, Door, RequestContext } from "./context.js";
import { jsonError } from "./json-errors.js";

function contextOf(partial: Partial<RequestContext>, rawPath: string, rawQuery: string): RequestContext {
  return {
    requestId: partial.requestId ?? randomUUID(),
    rawPath: partial.rawPath ?? rawPath,
    rawQuery: partial.rawQuery ?? rawQuery,
    ...(partial.answerByMs !== undefined && { answerByMs: partial.answerByMs }),
    ...(partial.signal !== undefined && { signal: partial.signal }),
  };
}

/** Routes a request to the door that owns its path. The same App serves Lambda and the local server. */
export function createApp(doors: readonly Door[], log: Logger): App {
  const doorOf = (path: string) => doors.find((d) => d.owns(path));
  const notFound = (path: string, context: RequestContext) =>
    jsonError(new QueueError(ErrorCode.NotFound, `no route for ${path.slice(0, 200)}; see the API reference`), context.requestId, log);

  const refuse: App["refuse"] = (path, error, partial = {}) => {
    const context = contextOf(partial, path, "");
    const door = doorOf(path);
    return door ? door.refuse(error, context) : jsonError(error, context.requestId, log);
  };

  return {
    routes: doors.flatMap((d) => d.routes),
    refuse,
    async fetch(request, partial = {}) {
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        return refuse("/", new QueueError(ErrorCode.InvalidArgument, "the request URL cannot be parsed"), partial);
      }
      const context = contextOf(partial, url.pathname, url.search.replace(/^\?/, ""));
      const door = doorOf(context.rawPath);
      try {
        assertPlainPath(context.rawPath);
        if (!door) return notFound(url.pathname, context);
        return await door.handle(request, context);
      } catch (error) {
        // Known errors keep their code; anything else is logged and answered as a generic 500 by the door.
        return door ? door.refuse(error, context) : jsonError(error, context.requestId, log);
      }
    },
  };
}
