import { describe, expect, it } from "vitest";
import { LocalTimeFit, decodeDeliverAt, resolveLocalTime } from "../../core/local-time.js";

describe("local wall-clock deliver times", () => {
  it("resolves a zone without daylight saving by its fixed offset", () => {
    // Prepare / Act
    const r = resolveLocalTime("2026-12-01T09:00", "Asia/Shanghai");
    // Assess
    expect(r).toEqual({ instantMs: Date.parse("2026-12-01T01:00:00Z"), fit: LocalTimeFit.Exact });
  });

  it("uses the offset in force on that date, summer or winter", () => {
    expect(resolveLocalTime("2026-07-01T09:00:30.250", "Europe/Berlin").instantMs).toBe(Date.parse("2026-07-01T07:00:30.250Z"));
    expect(resolveLocalTime("2026-01-15T09:00", "Europe/Berlin").instantMs).toBe(Date.parse("2026-01-15T08:00:00Z"));
  });

  it("moves a time in a spring-forward gap forward by the gap's length", () => {
    // 2026-03-08 02:00 EST → 03:00 EDT in New York: 02:30 does not exist.
    const r = resolveLocalTime("2026-03-08T02:30", "America/New_York");
    expect(r).toEqual({ instantMs: Date.parse("2026-03-08T07:30:00Z"), fit: LocalTimeFit.Gap });
    expect(new Date(r.instantMs).toISOString()).toBe("2026-03-08T07:30:00.000Z");
    // Europe: 2026-03-29 02:00 CET → 03:00 CEST.
    expect(resolveLocalTime("2026-03-29T02:15", "Europe/Berlin").instantMs).toBe(Date.parse("2026-03-29T01:15:00Z"));
  });

  it("takes the earlier of two occurrences in a fall-back overlap", () => {
    // 2026-11-01 02:00 EDT → 01:00 EST in New York: 01:30 happens twice.
    const r = resolveLocalTime("2026-11-01T01:30", "America/New_York");
    expect(r).toEqual({ instantMs: Date.parse("2026-11-01T05:30:00Z"), fit: LocalTimeFit.Overlap });
    expect(resolveLocalTime("2026-11-01T02:00", "America/New_York")).toEqual({ instantMs: Date.parse("2026-11-01T07:00:00Z"), fit: LocalTimeFit.Exact });
    // Lord Howe shifts by 30 minutes.
    expect(resolveLocalTime("2026-04-05T01:45", "Australia/Lord_Howe").fit).toBe(LocalTimeFit.Overlap);
  });

  it("rejects unknown zones, impossible dates and instants with an offset, saying what to send", () => {
    expect(() => resolveLocalTime("2026-12-01T09:00", "Mars/Olympus")).toThrow(/IANA time zone/);
    expect(() => resolveLocalTime("2026-02-30T09:00", "UTC")).toThrow(/not a valid calendar date/);
    expect(() => resolveLocalTime("2026-12-01T24:00", "UTC")).toThrow(/not a valid calendar date/);
    expect(() => decodeDeliverAt("2026-12-01T09:00+08:00", "Asia/Shanghai")).toThrow(/without offset/);
    expect(() => decodeDeliverAt(1_800_000_000_000, "Asia/Shanghai")).toThrow(/local date-time string/);
  });

  it("keeps the wall-clock input beside the resolved instant", () => {
    expect(decodeDeliverAt("2026-12-01T09:00", "Asia/Shanghai")).toEqual({
      kind: "at",
      deliverAtMs: Date.parse("2026-12-01T01:00:00Z"),
      source: "deliverAt",
      local: { wallClock: "2026-12-01T09:00", timeZone: "Asia/Shanghai" },
    });
    expect(decodeDeliverAt("2026-12-01T09:00:00Z", undefined)).toEqual({ kind: "at", deliverAtMs: Date.parse("2026-12-01T09:00:00Z"), source: "deliverAt" });
  });
});
