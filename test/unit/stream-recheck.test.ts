import { describe, expect, it } from "vitest";
import { effectivePollIntervalMs, effectiveStreamRecheckMs, loadConfig } from "../../core/config.js";

const config = (env: Record<string, string>) => loadConfig({ TABLE_NAME: "t", ...env });

describe("STREAM_RECHECK_MS", () => {
  it("is 50 ms per two shards by default, never above the poll interval in use, and 0 turns it off", () => {
    expect(effectiveStreamRecheckMs(config({}))).toBe(50);
    expect(effectiveStreamRecheckMs(config({ SHARDS: "1" }))).toBe(50);
    expect(effectiveStreamRecheckMs(config({ SHARDS: "16" }))).toBe(400);
    expect(effectiveStreamRecheckMs(config({ STREAM_RECHECK_MS: "0" }))).toBe(0);
    const slow = config({ STREAM_RECHECK_MS: "5000" });
    expect(effectiveStreamRecheckMs(slow)).toBe(effectivePollIntervalMs(slow));
  });

  it("refuses what is not an integer from 0 to 60000, naming the key", () => {
    expect(() => config({ STREAM_RECHECK_MS: "-1" })).toThrow(/STREAM_RECHECK_MS must be an integer from 0 to 60000/);
    expect(() => config({ STREAM_RECHECK_MS: "fast" })).toThrow(/STREAM_RECHECK_MS/);
  });
});
