import { systemClock } from "../clock.js";
import { ErrorCode, QueueError, invalid, quote } from "../errors.js";
import { DeliveryDoor } from "../metrics.js";
import type { CredentialProvider } from "../mq-credentials.js";
import type { Clock, Logger } from "../ports.js";
import { verifyContentMd5, verifyMqSignature } from "../protocol/mq-signature.js";
import { mqInvalid } from "../protocol/rocketmq-errors.js";
import {
  decodeAckXml,
  decodePublishXml,
  decodeUtf8,
  encodeAckErrorsXml,
  encodeMessagesXml,
  encodePublishXml,
} from "../protocol/rocketmq-xml.js";
import type { Queue } from "../queue.js";
import { LIMITS, assertName, parseTagFilter, topicKey } from "../rules.js";
import { readBodyLimited } from "./body.js";
import type { Door, RequestContext } from "./context.js";
import { xmlError, xmlErrorResponse, xmlResponse } from "./rocketmq-errors.js";

/** The service's documented retry interval for plain messages: a delivery stays hidden this long. */
export const ROCKETMQ_DEFAULT_VISIBILITY_SECONDS = 300;

export interface RocketmqDoorOptions {
  /** Visibility of a delivery (the time until NextConsumeTime); default 300 s. */
  visibilitySeconds?: number;
  /** Clock the Date header is compared with. */
  clock?: Clock;
}

/** Headers of a publish answer: the effective deliver time (epoch ms), and `delivered-now` when the maximum made it now. */
export const DELIVER_AT_HEADER = "x-delayq-deliver-at";
export const OVER_MAX_DELAY_HEADER = "x-delayq-over-max-delay";

/** Environment variable overriding the door's visibility (seconds, 1..43200). */
export const MQ_VISIBILITY_ENV = "MQ_VISIBILITY_SECONDS";

export function rocketmqDoorOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): RocketmqDoorOptions {
  const raw = env[MQ_VISIBILITY_ENV];
  if (raw === undefined || raw === "") return {};
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > LIMITS.visibilitySecondsMax) {
    throw invalid(`configuration: ${MQ_VISIBILITY_ENV} must be an integer from 1 to ${LIMITS.visibilitySecondsMax} (got "${raw}")`);
  }
  return { visibilitySeconds: Number(raw) };
}

const TRANS: Record<string, string> = {
  order: "ordered consume (trans=order)",
  pop: "transactional half-message check (trans=pop)",
  commit: "transaction commit (trans=commit)",
  rollback: "transaction rollback (trans=rollback)",
};

const PATH = /^\/topics\/([^/]+)\/messages$/;
/** HostId of errors answered before a request URL is known. */
const HOST_ID = "delayq";

function decodeSegment(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw mqInvalid("the topic in the path is not valid percent-encoding");
  }
}

function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw mqInvalid(`${name} must be an integer from ${min} to ${max}; got ${quote(raw)}`);
  }
  return Number(raw);
}

function requiredGroup(query: URLSearchParams): string {
  const consumer = query.get("consumer");
  if (consumer === null || consumer === "") throw mqInvalid("the consumer query parameter (the group id) is required");
  return assertName("group", consumer);
}

/**
 * The RocketMQ-compatible XML API (ApsaraMQ for RocketMQ HTTP, x-mq-version 2015-06-06) at
 * `/topics/{topic}/messages`: publish (POST), long-poll consume (GET), ack (DELETE), signed with the
 * MQ signature over the raw request target.
 */
export function rocketmqDoor(queue: Queue, credentials: CredentialProvider, log: Logger, options: RocketmqDoorOptions = {}): Door {
  const visibilitySeconds = options.visibilitySeconds ?? ROCKETMQ_DEFAULT_VISIBILITY_SECONDS;
  const clock = options.clock ?? systemClock;

  async function serve(request: Request, context: RequestContext, path: string, hostId: string): Promise<Response> {
    await verifyMqSignature(
      { method: request.method, headers: request.headers, rawPath: context.rawPath, rawQuery: context.rawQuery, nowMs: clock.nowMs() },
      credentials,
    );
    const body = await readBodyLimited(request);
    verifyContentMd5(request.headers.get("content-md5"), body);

    const match = PATH.exec(path);
    if (!match) throw new QueueError(ErrorCode.NotFound, `no resource ${path}; use /topics/{topic}/messages`);
    const query = new URLSearchParams(context.rawQuery);
    const trans = query.get("trans");
    if (trans !== null && trans !== "") {
      const what = (Object.hasOwn(TRANS, trans) ? TRANS[trans] : undefined) ?? `trans=${quote(trans)}`;
      throw mqInvalid(`${what} is not supported yet; only plain and scheduled messages are`);
    }
    const topic = topicKey(assertName("topic", decodeSegment(match[1] ?? "")), query.get("ns") ?? undefined);

    switch (request.method) {
      case "POST": {
        const publish = decodePublishXml(decodeUtf8(body));
        const result = await queue.publish({ topic, ...publish });
        // The protocol's answer has no deliver time: headers carry the effective one (SDKs ignore them).
        const timing: Record<string, string> = {
          [DELIVER_AT_HEADER]: String(result.deliverAtMs),
          ...(result.overMaxDelay && { [OVER_MAX_DELAY_HEADER]: result.overMaxDelay }),
        };
        return xmlResponse(201, encodePublishXml(result), context.requestId, timing);
      }
      case "GET": {
        const group = requiredGroup(query);
        const max = intParam(query, "numOfMessages", 1, 1, LIMITS.batchMax);
        const waitSeconds = intParam(query, "waitseconds", 0, 0, LIMITS.waitSecondsMax);
        const messages = await queue.consume(
          {
            topic,
            group,
            max,
            waitSeconds,
            tags: parseTagFilter(query.get("tag") ?? undefined),
            defaultVisibilitySeconds: visibilitySeconds,
            door: DeliveryDoor.RocketMq,
            ...(context.answerByMs !== undefined && { answerByMs: context.answerByMs }),
          },
          context.signal,
        );
        if (messages.length === 0) {
          return xmlErrorResponse(404, "MessageNotExist", `no message to consume in ${topic} for ${group}`, context.requestId, hostId);
        }
        return xmlResponse(200, encodeMessagesXml(messages), context.requestId);
      }
      case "DELETE": {
        const group = requiredGroup(query);
        const handles = decodeAckXml(decodeUtf8(body));
        const result = await queue.ack({ topic, group, receiptHandles: handles });
        if (result.failed.length > 0) return xmlResponse(404, encodeAckErrorsXml(result.failed), context.requestId);
        return xmlResponse(204, null, context.requestId);
      }
      default:
        throw new QueueError(ErrorCode.MethodNotAllowed, `${request.method} is not allowed on ${path}; use POST, GET or DELETE`);
    }
  }

  const path = "/topics/{topic}/messages";
  return {
    name: "rocketmq",
    routes: ["POST", "GET", "DELETE"].map((method) => ({ door: "rocketmq", method, path })),
    owns: (p) => p.startsWith("/topics/"),
    refuse: (error, context) => xmlError(error, context.requestId, HOST_ID, log),
    async handle(request, context) {
      const url = new URL(request.url);
      try {
        return await serve(request, context, url.pathname, url.origin);
      } catch (error) {
        return xmlError(error, context.requestId, url.origin, log);
      }
    },
  };
}
