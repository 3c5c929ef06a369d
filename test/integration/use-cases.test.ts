import { describe, expect, it } from "vitest";
import { memoryApp } from "../support/memory-app.js";

const T0 = Date.UTC(2031, 10, 22, 12, 0, 0);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe("the three use cases, end to end over the JSON API (fixed clock)", () => {
  it("order timeout: a check published with a 30-minute delay arrives at 30 minutes, not before", async () => {
    // Prepare: the order service places order 42 and schedules its timeout check
    const { call, clock } = memoryApp(T0);
    const consume = () => call("POST", "/v1/topics/orders/groups/timeouts/consume", {});
    await consume();
    const published = await call("POST", "/v1/topics/orders/messages", { body: '{"orderId":42}', key: "order-42", delayMs: 30 * MINUTE });
    // Act
    clock.advance(30 * MINUTE - 1);
    const early = await consume();
    clock.advance(1);
    const due = await consume();
    // Assess
    expect(published.json.deliverAt).toBe(T0 + 30 * MINUTE);
    expect(early.json.messages).toEqual([]);
    expect(due.json.messages).toEqual([expect.objectContaining({ body: '{"orderId":42}', key: "order-42", deliverAt: T0 + 30 * MINUTE })]);
    const acked = await call("POST", "/v1/topics/orders/groups/timeouts/ack", { receiptHandles: [due.json.messages[0].receiptHandle] });
    expect(acked.json).toEqual({ acked: 1, failed: [] });
  });

  it("scheduled notification: a reminder for 24 hours ahead, given as an ISO-8601 instant, arrives then", async () => {
    // Prepare
    const { call, clock } = memoryApp(T0);
    const consume = () => call("POST", "/v1/topics/reminders/groups/push/consume", { max: 16 });
    await consume();
    const at = new Date(T0 + 24 * HOUR).toISOString();
    await call("POST", "/v1/topics/reminders/messages", { body: "your appointment is tomorrow", deliverAt: at });
    // Act
    clock.advance(24 * HOUR - 1);
    const early = await consume();
    clock.advance(1);
    const due = await consume();
    // Assess
    expect(early.json.messages).toEqual([]);
    expect(due.json.messages.map((m: { body: string }) => m.body)).toEqual(["your appointment is tomorrow"]);
  });

  it("retry with backoff: a failing consumer sees the message again after 1 s, 2 s, 4 s, 8 s, then it is dead-lettered and redriven", async () => {
    // Prepare: the group retries with exponential backoff and gives up after 5 deliveries
    const { call, clock } = memoryApp(T0);
    await call("PUT", "/v1/topics/payments/groups/charger", {
      maxReceiveCount: 5,
      retryBackoff: { mode: "exponential", baseSeconds: 1, capSeconds: 8 },
      deadLetter: "on",
    });
    const consume = () => call("POST", "/v1/topics/payments/groups/charger/consume", {});
    const { json: published } = await call("POST", "/v1/topics/payments/messages", { body: "charge card 7" });
    // Act: each delivery fails and is nacked without a delay, so the group's backoff applies
    const waits: number[] = [];
    let [m] = (await consume()).json.messages;
    for (let attempt = 1; attempt < 5; attempt++) {
      const nacked = await call("POST", "/v1/topics/payments/groups/charger/nack", { receiptHandle: m.receiptHandle });
      waits.push(nacked.json.nextVisibleAt - clock.nowMs());
      clock.set(nacked.json.nextVisibleAt - 1);
      expect((await consume()).json.messages).toEqual([]);
      clock.advance(1);
      [m] = (await consume()).json.messages;
      expect(m.consumedTimes).toBe(attempt + 1);
    }
    const fifth = await call("POST", "/v1/topics/payments/groups/charger/nack", { receiptHandle: m.receiptHandle });
    const deadLetters = await call("GET", "/v1/topics/payments/groups/charger/dead-letters");
    const redrive = await call("POST", "/v1/topics/payments/groups/charger/dead-letters/redrive", { all: true });
    const [fresh] = (await consume()).json.messages;
    // Assess
    expect(waits).toEqual([1 * SECOND, 2 * SECOND, 4 * SECOND, 8 * SECOND]);
    expect(fifth.json.outcome).toBe("dead-lettered");
    expect(deadLetters.json.deadLetters).toEqual([
      { messageId: published.messageId, lastFailureAt: T0 + 15 * SECOND, consumedTimes: 5, deliverAt: T0, reason: "maxReceiveCount" },
    ]);
    expect(redrive.json.redriven).toBe(1);
    expect(fresh).toMatchObject({ messageId: published.messageId, consumedTimes: 1 });
  });
});
