import { describe, expect, it } from "vitest";
import { DAY_MS, effectivePollIntervalMs, loadConfig } from "../../core/config.js";
import { mintReceiptHandle, parseReceiptHandle } from "../../core/ids.js";
import { decodeTiming } from "../../core/protocol/json.js";
import {
  assertBody,
  assertProperties,
  assertTag,
  assertTopicKey,
  parseInstant,
  parseTagFilter,
  decideDeliverAt,
  resolveDeliverAt,
  topicKey,
} from "../../core/rules.js";
import { type DelayPolicy, OVER_MAX_DEFAULTS, type TimingConvention, describeMs } from "../../core/delay-limit.js";

const NOW = Date.UTC(2026, 0, 1);
const policy = { maxDelayMs: 40 * DAY_MS, overMaxDelay: undefined };
const over = 40 * DAY_MS + 1;

describe("deliver time", () => {
  it("resolves delays, instants, the past and the maximum", () => {
    expect(resolveDeliverAt({ kind: "now" }, NOW, policy)).toBe(NOW);
    expect(resolveDeliverAt({ kind: "delay", delayMs: 1500, source: "delayMs" }, NOW, policy)).toBe(NOW + 1500);
    expect(resolveDeliverAt({ kind: "at", deliverAtMs: NOW - 1, source: "deliverAt" }, NOW, policy)).toBe(NOW);
    expect(resolveDeliverAt({ kind: "delay", delayMs: 40 * DAY_MS, source: "delayMs" }, NOW, policy)).toBe(NOW + 40 * DAY_MS);
    expect(resolveDeliverAt({ kind: "at", deliverAtMs: NOW + 40 * DAY_MS, source: "deliverAt", convention: "rocketmq" }, NOW, policy)).toBe(NOW + 40 * DAY_MS);
  });

  it("beyond the maximum follows the timing's convention unless the topic sets a rule", () => {
    // Prepare
    const delay = (convention?: TimingConvention) => ({ kind: "delay", delayMs: over, source: "x", ...(convention && { convention }) }) as const;
    const set = (overMaxDelay: "reject" | "deliver-now") => ({ ...policy, overMaxDelay });
    // Act
    const outcome = (timing: ReturnType<typeof delay>, p: DelayPolicy) => {
      try {
        return decideDeliverAt(timing, NOW, p, "t").overMax?.outcome ?? "scheduled";
      } catch (error) {
        return (error as { code: string }).code;
      }
    };
    // Assess
    expect(OVER_MAX_DEFAULTS).toEqual({ delayq: "reject", rocketmq: "reject", rabbitmq: "deliver-now" });
    expect(outcome(delay(), policy)).toBe("InvalidArgument");
    expect(outcome(delay("delayq"), policy)).toBe("InvalidArgument");
    expect(outcome(delay("rocketmq"), policy)).toBe("InvalidArgument");
    expect(outcome(delay("rabbitmq"), policy)).toBe("delivered-now");
    for (const convention of [undefined, "delayq", "rocketmq", "rabbitmq"] as const) {
      expect(outcome(delay(convention), set("deliver-now")), String(convention)).toBe("delivered-now");
      expect(outcome(delay(convention), set("reject")), String(convention)).toBe("InvalidArgument");
    }
  });

  it("says what was asked, the maximum and the setting that raises it; reports a deliver-now", () => {
    expect(() => decideDeliverAt({ kind: "delay", delayMs: over, source: "delayMs" }, NOW, policy, "orders")).toThrow(
      'delayMs asks for delivery at 2026-02-10T00:00:00.001Z, 3456000001 ms (40 days) from now, beyond the maximum delay of topic orders: ' +
        '3456000000 ms (40 days). Send an earlier time, or raise the topic\'s maxDelayMs setting (PUT /v1/topics/orders {"maxDelayMs": …}, up to 31622400000 ms, 366 days)',
    );
    expect(() => decideDeliverAt({ kind: "delay", delayMs: over, source: "__STARTDELIVERTIME" }, NOW, policy, "MQ_INST_1~orders")).toThrow(
      /maximum delay of topic MQ_INST_1~orders: 3456000000 ms \(40 days\).*deployment's MAX_DELAY_MS/,
    );
    expect(decideDeliverAt({ kind: "delay", delayMs: 90_000, source: "header delay", convention: "rabbitmq" }, NOW, { ...policy, maxDelayMs: 60_000 })).toEqual({
      deliverAtMs: NOW,
      overMax: {
        outcome: "delivered-now",
        source: "header delay",
        convention: "rabbitmq",
        rule: "convention",
        requestedMs: NOW + 90_000,
        requestedDelayMs: 90_000,
        maxDelayMs: 60_000,
      },
    });
    expect(describeMs(90_000)).toBe("1.5 minutes");
    expect(describeMs(999)).toBe("999 ms");
  });

  it("parses deliverAt as epoch ms or ISO-8601 with an offset only", () => {
    expect(parseInstant(NOW, "deliverAt")).toBe(NOW);
    expect(parseInstant("2026-01-01T08:00:00+08:00", "deliverAt")).toBe(NOW);
    expect(parseInstant("2026-01-01T00:00:00.250Z", "deliverAt")).toBe(NOW + 250);
    for (const bad of ["2026-01-01T00:00:00", "tomorrow", -5, 1.5, "", null]) {
      expect(() => parseInstant(bad, "deliverAt")).toThrow(/ISO-8601/);
    }
  });

  it("accepts exactly one way of saying when, with a message that says what to send", () => {
    const h = (init: Record<string, string>) => new Headers(init);
    expect(decodeTiming({}, h({}))).toEqual({ kind: "now" });
    expect(decodeTiming({ delayMs: 5 }, h({}))).toEqual({ kind: "delay", delayMs: 5, source: "delayMs", convention: "delayq" });
    expect(decodeTiming({ deliverAt: NOW }, h({}))).toEqual({ kind: "at", deliverAtMs: NOW, source: "deliverAt", convention: "delayq" });
    expect(decodeTiming({}, h({ delay: "5000" }))).toEqual({ kind: "delay", delayMs: 5000, source: "header delay", convention: "rabbitmq" });
    expect(decodeTiming({}, h({ "x-delay": "7" }))).toEqual({ kind: "delay", delayMs: 7, source: "header x-delay", convention: "rabbitmq" });
    const bad: [Record<string, unknown>, Record<string, string>, RegExp][] = [
      [{ delayMs: -1 }, {}, /non-negative integer/],
      [{ delayMs: 1.5 }, {}, /non-negative integer/],
      [{ delayMs: "100" }, {}, /non-negative integer/],
      [{}, { delay: "-5" }, /e\.g\. "5000"/],
      [{}, { delay: "5.5" }, /e\.g\. "5000"/],
      [{}, { delay: "abc" }, /e\.g\. "5000"/],
      [{}, { delay: "" }, /e\.g\. "5000"/],
      [{}, { delay: "1", "x-delay": "1" }, /one way only/],
      [{ delayMs: 1 }, { delay: "1" }, /one way only/],
      [{ delayMs: 1, deliverAt: NOW }, {}, /one way only/],
    ];
    for (const [body, headers, message] of bad) {
      expect(() => decodeTiming(body, h(headers)), JSON.stringify([body, headers])).toThrow(message);
    }
  });
});

describe("limits and names", () => {
  it("bounds body, properties and tag", () => {
    expect(assertBody("x".repeat(256 * 1024))).toHaveLength(256 * 1024);
    expect(() => assertBody("x".repeat(256 * 1024 + 1))).toThrow(expect.objectContaining({ code: "MessageTooLarge" }));
    expect(() => assertBody("é".repeat(128 * 1024 + 1))).toThrow(expect.objectContaining({ code: "MessageTooLarge" }));
    expect(() => assertBody(undefined)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    expect(() => assertProperties({ a: "x".repeat(16 * 1024) })).toThrow(/16 KiB/);
    expect(() => assertProperties({ a: 1 })).toThrow(/must be a string/);
    expect(assertTag("t".repeat(64))).toHaveLength(64);
    expect(() => assertTag("t".repeat(65))).toThrow(/1-64/);
    expect(() => assertTag("a|b")).toThrow(/without '\|'/);
  });

  it("keys a namespaced topic apart from a plain one and rejects bad names", () => {
    expect(topicKey("orders")).toBe("orders");
    expect(topicKey("orders", "MQ_INST_1")).toBe("MQ_INST_1~orders");
    expect(assertTopicKey("MQ_INST_1~orders")).toBe("MQ_INST_1~orders");
    for (const bad of ["", "a b", "a#b", "x".repeat(65), "a~b~c"]) expect(() => assertTopicKey(bad)).toThrow(/topic|namespace/);
  });

  it("parses tag filters", () => {
    expect(parseTagFilter("a||b")).toEqual(["a", "b"]);
    expect(parseTagFilter("*")).toBeUndefined();
    expect(parseTagFilter("")).toBeUndefined();
    expect(() => parseTagFilter(5)).toThrow();
  });
});

describe("receipt handles", () => {
  it("binds a handle to its topic and group", () => {
    const handle = mintReceiptHandle("t", "g", "0123456789ABCDEF0123456789ABCDEF");
    expect(parseReceiptHandle(handle, "t", "g")).toEqual({ ok: true, messageId: "0123456789ABCDEF0123456789ABCDEF" });
    expect(parseReceiptHandle(handle, "t", "other")).toEqual({ ok: false, reason: "foreign" });
    expect(parseReceiptHandle("garbage", "t", "g")).toEqual({ ok: false, reason: "malformed" });
    expect(mintReceiptHandle("t", "g", "0123456789ABCDEF0123456789ABCDEF")).not.toBe(handle);
  });
});

describe("configuration", () => {
  it("names every bad or missing key at once", () => {
    const problem = (() => {
      try {
        loadConfig({ SHARDS: "0", OVER_MAX_DELAY: "maybe" });
      } catch (error) {
        return String(error);
      }
    })();
    expect(problem).toMatch(/TABLE_NAME is required/);
    expect(problem).toMatch(/SHARDS must be an integer from 1 to 64 \(got "0"\)/);
    expect(problem).toMatch(/OVER_MAX_DELAY must be "deliver-now", "reject" or unset/);
  });

  it("leaves OVER_MAX_DELAY unset by default (each door's rule) and takes an explicit rule for every topic without one", () => {
    expect(loadConfig({ TABLE_NAME: "t" }).overMaxDelay).toBeUndefined();
    expect(loadConfig({ TABLE_NAME: "t", OVER_MAX_DELAY: "" }).overMaxDelay).toBeUndefined();
    expect(loadConfig({ TABLE_NAME: "t", OVER_MAX_DELAY: "reject" }).overMaxDelay).toBe("reject");
    expect(loadConfig({ TABLE_NAME: "t", OVER_MAX_DELAY: "deliver-now" }).overMaxDelay).toBe("deliver-now");
  });

  it("keeps an idle consumer at or under 5 index queries per second whatever the shard count", () => {
    expect(effectivePollIntervalMs({ pollIntervalMs: 1000, shards: 2 })).toBe(1000);
    expect(effectivePollIntervalMs({ pollIntervalMs: 100, shards: 8 })).toBe(3200);
  });
});
