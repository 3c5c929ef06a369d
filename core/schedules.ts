import { CronPattern } from "croner";
import { ErrorCode, QueueError, invalid, quote } from "./errors.js";
import { assertTimeZone } from "./local-time.js";
import type { PublishInput } from "./queue.js";
import { NAME_PATTERN, assertBody, assertKey, assertName, assertProperties, assertTag } from "./rules.js";
import type { ScheduleDefinition, ScheduleFiring, ScheduledMessage } from "./schedule-ports.js";

/** A parsed schedule expression: AWS cron fields (translated for croner) or a fixed rate. */
export type ParsedExpression =
  | { kind: "cron"; /** croner's 7-part pattern: second minute hour day-of-month month day-of-week year */ pattern: string }
  | { kind: "rate"; everyMs: number };

const RATE = /^rate\((\d{1,6}) (minute|minutes|hour|hours|day|days)\)$/;
const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
const CRON = /^cron\((.*)\)$/;
const CRON_FIELDS = ["minutes", "hours", "day-of-month", "month", "day-of-week", "year"] as const;
const FIELD_CHARS: Record<(typeof CRON_FIELDS)[number], RegExp> = {
  minutes: /^[0-9,\-*/]+$/,
  hours: /^[0-9,\-*/]+$/,
  "day-of-month": /^([0-9,\-*/?LW]|LW)+$/,
  month: /^([0-9,\-*/]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)+$/i,
  "day-of-week": /^([0-9,\-*/?L#]|SUN|MON|TUE|WED|THU|FRI|SAT)+$/i,
  year: /^[0-9,\-*/]+$/,
};

/**
 * Validates `cron(minutes hours day-of-month month day-of-week year)` or `rate(value unit)` as EventBridge
 * Scheduler reads them (day-of-week 1-7 = SUN-SAT; one of the two day fields must be `?`); 400 with the
 * reason otherwise.
 */
export function parseExpression(expression: unknown): ParsedExpression {
  if (typeof expression !== "string") throw invalid('expression must be a string: "cron(0 9 * * ? *)" or "rate(5 minutes)"');
  const shown = quote(expression);
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] as string;
    if (value < 1) throw invalid(`expression ${shown}: the rate must be at least 1`);
    const singular = !unit.endsWith("s");
    if (singular !== (value === 1)) {
      throw invalid(`expression ${shown}: use the singular unit for 1 and the plural for more, e.g. "rate(1 minute)", "rate(5 minutes)"`);
    }
    return { kind: "rate", everyMs: value * UNIT_MS[unit.replace(/s$/, "") as keyof typeof UNIT_MS] };
  }
  if (expression.startsWith("rate(")) {
    throw invalid(`expression ${shown}: a rate is "rate(<positive integer> minute|minutes|hour|hours|day|days)"`);
  }
  const cron = CRON.exec(expression);
  if (!cron) throw invalid(`expression ${shown} must be "cron(minutes hours day-of-month month day-of-week year)" or "rate(value unit)"`);
  const fields = (cron[1] as string).trim().split(/\s+/);
  if (fields.length !== 6) {
    throw invalid(`expression ${shown}: cron needs 6 fields (minutes hours day-of-month month day-of-week year); got ${fields.length}`);
  }
  fields.forEach((field, i) => {
    const name = CRON_FIELDS[i] as (typeof CRON_FIELDS)[number];
    if (!FIELD_CHARS[name].test(field)) throw invalid(`expression ${shown}: ${name} field ${quote(field)} has characters it may not use`);
  });
  const [minutes, hours, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  if ((dom === "?") === (dow === "?")) {
    throw invalid(`expression ${shown}: exactly one of day-of-month and day-of-week must be "?" (e.g. "cron(0 9 * * ? *)" or "cron(0 9 ? * MON-FRI *)")`);
  }
  const step = (field: string, max: number) => field.split(",").map((t) => t.replace(/^(\d+)\/(\d+)$/, `$1-${max}/$2`)).join(",");
  const pattern = [
    "0",
    step(minutes, 59),
    step(hours, 23),
    dom === "?" ? "*" : step(dom, 31),
    step(month, 12),
    dow === "?" ? "*" : step(dow, 7),
    step(year, 2199),
  ].join(" ");
  try {
    new CronPattern(pattern, undefined, { mode: "7-part", alternativeWeekdays: true });
  } catch (error) {
    throw invalid(`expression ${shown}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { kind: "cron", pattern };
}

/** Checks a create-schedule request: name, topic, expression, time zone (default UTC) and the message. */
export function assertScheduleDefinition(input: Record<string, unknown>): ScheduleDefinition {
  const name = assertScheduleName(input.name);
  const topic = assertName("topic", input.topic);
  const expression = input.expression;
  parseExpression(expression);
  const timeZone = input.timeZone === undefined || input.timeZone === null ? "UTC" : assertTimeZone(input.timeZone);
  const raw = input.message;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw invalid('message is required: {"body": "...", "tag"?, "key"?, "properties"?}');
  }
  const m = raw as Record<string, unknown>;
  const tag = assertTag(m.tag);
  const key = assertKey(m.key);
  const properties = assertProperties(m.properties);
  const message: ScheduledMessage = {
    body: assertBody(m.body),
    ...(tag !== undefined && { tag }),
    ...(key !== undefined && { key }),
    ...(Object.keys(properties).length > 0 && { properties }),
  };
  return { name, topic, expression: expression as string, timeZone, message };
}

export function assertScheduleName(value: unknown): string {
  if (typeof value !== "string" || !NAME_PATTERN.test(value)) {
    throw invalid(`schedule name must match ${NAME_PATTERN.source}; got ${quote(value)}`);
  }
  return value;
}

export function scheduleNotFound(name: string): QueueError {
  return new QueueError(ErrorCode.NotFound, `no schedule named ${name}`);
}

export function scheduleExists(name: string): QueueError {
  return new QueueError(ErrorCode.AlreadyExists, `a schedule named ${name} exists already; delete it first or choose another name`);
}

/** What one firing publishes: the schedule's message, now, deduplicated per schedule and due time. */
export function firingToPublish(firing: ScheduleFiring): PublishInput {
  return {
    topic: firing.topic,
    body: firing.message.body,
    tag: firing.message.tag,
    key: firing.message.key,
    properties: firing.message.properties,
    timing: { kind: "now" },
    dedupId: `schedule:${firing.schedule}:${firing.scheduledTime}`,
  };
}

/** Reads a firing event (from EventBridge Scheduler's target input); 400 when it is not one. */
export function assertFiring(event: unknown): ScheduleFiring {
  const e = event as Partial<ScheduleFiring> | null;
  if (e?.source !== "delayq.schedule" || typeof e.schedule !== "string" || typeof e.topic !== "string" || typeof e.scheduledTime !== "string" || typeof e.message !== "object" || e.message === null) {
    throw invalid("not a delayq schedule firing: expected {source: \"delayq.schedule\", schedule, topic, scheduledTime, message}");
  }
  return e as ScheduleFiring;
}
