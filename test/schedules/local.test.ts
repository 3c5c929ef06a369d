import { describe, expect, it } from "vitest";
import { ManualClock } from "../../core/clock.js";
import { MemoryStore } from "../../core/memory-store.js";
import { silentLogger } from "../../core/ports.js";
import type { ScheduleFiring } from "../../core/schedule-ports.js";
import { firingToPublish, parseExpression } from "../../core/schedules.js";
import { buildRuntime } from "../../lambda/composition.js";
import { LocalScheduleService } from "../../local/local-schedules.js";
import { waitFor } from "../support/wait.js";

/** Sunday 2026-11-22 12:00 UTC = 20:00 in Shanghai. */
const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);

function runner() {
  const clock = new ManualClock(T0);
  const fired: ScheduleFiring[] = [];
  const service = new LocalScheduleService({ clock, log: silentLogger, fire: async (f) => fired.push(f) });
  return { clock, fired, service };
}

describe("recurring schedules in the local runtime", () => {
  it("fires a cron schedule at the wall-clock time of its zone", async () => {
    // Prepare
    const { clock, fired, service } = runner();
    await service.create({ name: "weekday-9", topic: "t", expression: "cron(0 9 ? * MON-FRI *)", timeZone: "Asia/Shanghai", message: { body: "b" } });
    await waitFor(() => clock.pendingSleepers === 1);
    // Act
    clock.set(Date.UTC(2026, 10, 23, 0, 59, 59));
    await waitFor(() => clock.pendingSleepers === 1);
    const early = fired.length;
    clock.set(Date.UTC(2026, 10, 23, 1, 0, 0));
    await waitFor(() => fired.length === 1);
    // Assess
    expect(early).toBe(0);
    expect(fired[0]).toEqual({ source: "delayq.schedule", schedule: "weekday-9", topic: "t", message: { body: "b" }, scheduledTime: "2026-11-23T01:00:00.000Z" });
    expect(service.nextRunMs(await service.get("weekday-9"), T0, Date.UTC(2026, 10, 27, 2, 0, 0))).toBe(Date.UTC(2026, 10, 30, 1, 0, 0));
    service.stopAll();
  });

  it("fires a rate schedule every interval from creation until deleted", async () => {
    const { clock, fired, service } = runner();
    await service.create({ name: "every-5", topic: "t", expression: "rate(5 minutes)", timeZone: "UTC", message: { body: "tick" } });
    for (let i = 1; i <= 3; i++) {
      await waitFor(() => clock.pendingSleepers === 1);
      clock.advance(300_000);
      await waitFor(() => fired.length === i);
    }
    await service.delete("every-5");
    clock.advance(3_600_000);
    await new Promise((r) => setTimeout(r, 5));
    expect(fired.map((f) => f.scheduledTime)).toEqual([1, 2, 3].map((i) => new Date(T0 + i * 300_000).toISOString()));
    expect(await service.list()).toEqual([]);
    await expect(service.get("every-5")).rejects.toMatchObject({ code: "NotFound" });
  });

  it("serves the schedule routes and publishes each firing once, even when it fires twice", async () => {
    const clock = new ManualClock(T0);
    let firings = 0;
    const runtime = buildRuntime({
      env: { TABLE_NAME: "t", MQ_CREDENTIALS: "AK:SK" },
      log: silentLogger,
      store: new MemoryStore(),
      clock,
      schedules: (queue) =>
        new LocalScheduleService({
          clock,
          log: silentLogger,
          fire: async (f) => {
            await queue.publish(firingToPublish(f));
            firings++;
          },
        }),
    });
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await runtime.app.fetch(
        new Request(`http://localhost${path}`, { method, headers: { "content-type": "application/json" }, ...(body !== undefined && { body: JSON.stringify(body) }) }),
      );
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    await call("POST", "/v1/topics/jobs/groups/w/consume", {});
    const created = await call("POST", "/v1/schedules", { name: "nightly", topic: "jobs", expression: "cron(30 2 * * ? *)", timeZone: "Europe/Berlin", message: { body: "clean up", tag: "ops" } });
    const duplicate = await call("POST", "/v1/schedules", { name: "nightly", topic: "jobs", expression: "rate(1 day)", message: { body: "x" } });
    const bad = await call("POST", "/v1/schedules", { name: "bad", topic: "jobs", expression: "cron(0 9 * * * *)", message: { body: "x" } });
    const badRate = await call("POST", "/v1/schedules", { name: "bad", topic: "jobs", expression: "rate(0 minutes)", message: { body: "x" } });
    await waitFor(() => clock.pendingSleepers >= 1);
    clock.set(Date.UTC(2026, 10, 23, 1, 30, 0));
    await waitFor(() => firings === 1);
    const firing: ScheduleFiring = { source: "delayq.schedule", schedule: "nightly", topic: "jobs", message: { body: "clean up", tag: "ops" }, scheduledTime: "2026-11-23T01:30:00.000Z" };
    const again = await runtime.queue.publish(firingToPublish(firing));
    const consumed = await call("POST", "/v1/topics/jobs/groups/w/consume", { max: 16 });
    const listed = await call("GET", "/v1/schedules");
    const read = await call("GET", "/v1/schedules/nightly");
    const deleted = await call("DELETE", "/v1/schedules/nightly");
    const gone = await call("GET", "/v1/schedules/nightly");
    expect(created).toMatchObject({ status: 201, body: { name: "nightly", timeZone: "Europe/Berlin", message: { body: "clean up", tag: "ops" } } });
    expect(duplicate).toMatchObject({ status: 409, body: { error: { code: "AlreadyExists" } } });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "InvalidArgument", message: expect.stringContaining("exactly one of day-of-month and day-of-week") } } });
    expect(badRate).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining("rate") } } });
    expect(again.duplicate).toBe(true);
    expect(consumed.body.messages).toEqual([expect.objectContaining({ body: "clean up", tag: "ops", deliverAt: Date.UTC(2026, 10, 23, 1, 30, 0) })]);
    expect((listed.body.schedules as { name: string }[]).map((s) => s.name)).toEqual(["nightly"]);
    expect(read.body).toMatchObject({ expression: "cron(30 2 * * ? *)" });
    expect(deleted).toEqual({ status: 200, body: { name: "nightly", deleted: true } });
    expect(gone.status).toBe(404);
  });

  it("rejects expressions EventBridge Scheduler would, with the reason", () => {
    expect(parseExpression("cron(0/15 * ? * 2-6 2026)")).toEqual({ kind: "cron", pattern: "0 0-59/15 * * * 2-6 2026" });
    expect(parseExpression("rate(1 hour)")).toEqual({ kind: "rate", everyMs: 3_600_000 });
    expect(() => parseExpression("rate(1 minutes)")).toThrow(/singular unit for 1/);
    expect(() => parseExpression("cron(61 9 * * ? *)")).toThrow(/minute/);
    expect(() => parseExpression("cron(0 9 * *)")).toThrow(/6 fields/);
    expect(() => parseExpression("every day")).toThrow(/cron\(minutes hours/);
  });
});
