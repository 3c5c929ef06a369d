import type { QueueError } from "../errors.js";

/** What a door knows about a request beyond the web-standard Request. */
export interface RequestContext {
  requestId: string;
  /** Path exactly as received, before any decoding (signatures are computed over it). */
  rawPath: string;
  /** Query string exactly as received, without the leading `?`. */
  rawQuery: string;
  /** Absolute epoch ms by which the response must be sent (Lambda's remaining time). */
  answerByMs?: number;
  /** Aborts when the client has gone away, or when the server shuts down (a long poll then answers at once). */
  signal?: AbortSignal;
}

/** One route of a door, as its own table declares it: the fuzz suite drives every one. */
export interface RouteInfo {
  door: string;
  method: string;
  /** Path template with `{name}` parameters, e.g. `/v1/topics/{topic}/messages`. */
  path: string;
}

/** A protocol served on its own paths (the JSON API, the RocketMQ-compatible XML API). */
export interface Door {
  name: string;
  /** Whether `path` (the URL's pathname) belongs to this door. */
  owns(path: string): boolean;
  /** Answers a request whose path this door owns. */
  handle(request: Request, context: RequestContext): Promise<Response>;
  /** The door's error answer for `error` (its status table and body shape). */
  refuse(error: unknown, context: RequestContext): Response;
  readonly routes: readonly RouteInfo[];
}

export interface App {
  fetch(request: Request, context?: Partial<RequestContext>): Promise<Response>;
  /**
   * The error answer, in the body shape of the door owning `path`, for a request refused before it could
   * become a Request (a method the Fetch API cannot carry, a bad Host, a body over the limit).
   */
  refuse(path: string, error: QueueError, context?: Partial<RequestContext>): Response;
  /** Every route of every door. */
  readonly routes: readonly RouteInfo[];
}
