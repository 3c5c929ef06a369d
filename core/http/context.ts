/** What a door knows about a request beyond the web-standard Request. */
export interface RequestContext {
  requestId: string;
  /** Path exactly as received, before any decoding (signatures are computed over it). */
  rawPath: string;
  /** Query string exactly as received, without the leading `?`. */
  rawQuery: string;
  /** Absolute epoch ms by which the response must be sent (Lambda's remaining time). */
  answerByMs?: number;
  /** Aborts when the client has gone away. */
  signal?: AbortSignal;
}

/** A protocol served on its own paths (the JSON API, the RocketMQ-compatible XML API). */
export interface Door {
  name: string;
  /** Answers the request, or undefined when the path is not this door's. */
  handle(request: Request, context: RequestContext): Promise<Response | undefined>;
}

export interface App {
  fetch(request: Request, context?: Partial<RequestContext>): Promise<Response>;
}
