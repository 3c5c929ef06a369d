import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { PROJECT_ROOT } from "../../infra/queue-function.js";
import { type LocalProcess, startLocal, stopAllLocal } from "../support/local-process.js";
import { memoryApp } from "../support/memory-app.js";
import { startSigV4Server } from "../support/sigv4-server.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** When each stdout line arrived (this process's clock). */
  lines: { text: string; at: number }[];
  endedAt: number;
}

/** Runs the real binary: `npx delayq …` (viaNpx) or `node client/bin/delayq.js …`, against `endpoint`. */
function delayq(endpoint: string, args: string[], options: { input?: string; viaNpx?: boolean; env?: Record<string, string>; onLine?: (line: string) => void } = {}) {
  const env: Record<string, string | undefined> = { ...process.env, DELAYQ_API_KEY: undefined, DELAYQ_ENDPOINT: endpoint, ...options.env };
  const child = options.viaNpx
    ? spawn("npx", ["delayq", ...args], { cwd: PROJECT_ROOT, env, stdio: ["pipe", "pipe", "pipe"] })
    : spawn(process.execPath, [join(PROJECT_ROOT, "client/bin/delayq.js"), ...args], { cwd: PROJECT_ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  const run: Run = { code: null, stdout: "", stderr: "", lines: [], endedAt: 0 };
  let partial = "";
  child.stdout.on("data", (chunk: Buffer) => {
    run.stdout += chunk;
    partial += chunk;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const text of parts) {
      run.lines.push({ text, at: Date.now() });
      options.onLine?.(text);
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    run.stderr += chunk;
  });
  if (options.input !== undefined) child.stdin.end(options.input);
  else child.stdin.end();
  const done = new Promise<Run>((resolve) =>
    child.on("close", (code) => {
      run.code = code;
      run.endedAt = Date.now();
      resolve(run);
    }),
  );
  return { child, done };
}
const run = (endpoint: string, args: string[], options: Parameters<typeof delayq>[2] = {}) => delayq(endpoint, args, options).done;
const json = (r: Run) => JSON.parse(r.stdout);

afterAll(() => stopAllLocal());

describe.each([
  ["npm start --in-memory", () => ({ args: ["--in-memory"] })],
  ["npm start on DynamoDB Local", () => ({ env: { DYNAMODB_ENDPOINT: inject("dynamoEndpoint"), TABLE_NAME: `t-${randomUUID()}` } })],
])("the issue's flow against %s", { timeout: 300_000 }, (_name, options) => {
  let local: LocalProcess;
  beforeAll(async () => {
    local = await startLocal(options());
  });

  it('`npx delayq publish orders "close order 42" --delay 3s`, then `npx delayq consume orders billing --ack` sees it arrive 3 s later, never early', async () => {
    // Act
    const published = await run(local.url, ["publish", "orders", "close order 42", "--delay", "3s"], { viaNpx: true });
    const consumer = delayq(local.url, ["consume", "orders", "billing", "--ack"], { viaNpx: true, env: { DELAYQ_VERBOSE: "1" } });
    let pollSentAt = 0;
    consumer.child.stderr.on("data", (chunk: Buffer) => {
      if (/POST \S+\/consume\n/.test(String(chunk))) pollSentAt ||= Date.now(); // its --verbose line: the long poll is being sent
    });
    const consumed = await consumer.done;
    // Assess
    expect(published.code, published.stderr).toBe(0);
    const [, id, deliverIso] = /^published ([0-9A-F]{32}) to orders, deliver at (\S+) \((?:in [\d.]+ m?s|[\d.]+ m?s ago)\)$/.exec(published.stdout.trim()) ?? [];
    const deliverAt = Date.parse(deliverIso as string);
    expect(deliverAt - published.lines[0]!.at, `${published.stdout} ${published.stderr}`).toBeGreaterThan(-1000); // about 3 s ahead when published (the printing process may be slow here)
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.lines[0]?.text).toBe(`${id}  "close order 42"`);
    expect(consumed.lines[1]?.text).toMatch(/^ {2}due \S+, received \d+ ms after; delivery 1, acked$/);
    const arrivedAt = consumed.lines[0]?.at as number;
    expect(arrivedAt).toBeGreaterThanOrEqual(deliverAt); // never early
    // Promptly after: soon after the later of its deliver time and the long poll being sent. The bound is
    // tolerant: this machine is shared, and under a load average of 15 the command alone takes seconds to
    // start and DynamoDB Local seconds to answer (on a quiet machine it is well under 200 ms).
    expect(pollSentAt).toBeGreaterThan(0);
    expect(arrivedAt - Math.max(deliverAt, pollSentAt)).toBeLessThan(5000);
    const shown = JSON.parse((await run(local.url, ["--json", "show", "orders", id as string])).stdout);
    expect(shown.groups).toMatchObject([{ group: "billing", state: "acked", consumedTimes: 1 }]);
    expect(shown.groups[0].firstConsumedAt).toBeGreaterThanOrEqual(deliverAt);
    console.log(
      `due ${deliverAt - published.lines[0]!.at} ms after the publish command printed; the long poll was sent ${deliverAt - pollSentAt} ms before it was due; printed ${arrivedAt - deliverAt} ms after due (server claimed it ${shown.groups[0].firstConsumedAt - deliverAt} ms after due)`,
    );
  });
});

// Each command is a process of its own (node, tsx, the CLI): about a second apiece on a quiet 2-core
// machine, up to 15 s under a load average of 20 (measured while other suites ran).
describe("the delayq binary (npm start --in-memory)", { timeout: 600_000 }, () => {
  let url: string;
  beforeAll(async () => {
    url = (await startLocal({ args: ["--in-memory"] })).url;
  });

  it("has --help for every command", async () => {
    const commands = [
      [],
      ["publish"],
      ["consume"],
      ["ack"],
      ["nack"],
      ["cancel"],
      ["reschedule"],
      ["show"],
      ["ls"],
      ["stats"],
      ["dead-letters"],
      ["redrive"],
      ["topics", "ls"],
      ["topics", "get"],
      ["topics", "set"],
      ["console"],
      ["groups", "ls"],
      ["groups", "get"],
      ["groups", "set"],
      ["groups", "rm"],
      ["schedules", "ls"],
      ["schedules", "get"],
      ["schedules", "create"],
      ["schedules", "rm"],
      ["health"],
    ];
    const runs: Run[] = [];
    for (let i = 0; i < commands.length; i += 6) runs.push(...(await Promise.all(commands.slice(i, i + 6).map((c) => run(url, [...c, "--help"])))));
    runs.forEach((r, i) => {
      expect(r.code, commands[i]?.join(" ")).toBe(0);
      expect(r.stdout, commands[i]?.join(" ")).toMatch(new RegExp(`^Usage: delayq ${(commands[i] ?? []).join(" ")}`));
    });
  });

  it("publishes from an argument, standard input and a file; --json for scripts; exit codes that mean something", async () => {
    // Prepare
    const t = `cli-${randomUUID().slice(0, 8)}`;
    const dir = mkdtempSync(join(tmpdir(), "delayq-cli-"));
    writeFileSync(join(dir, "body.txt"), "from a file");
    // Act + Assess
    const fromStdin = await run(url, ["--json", "publish", t, "-", "--delay", "1h", "--key", "k1", "--tag", "a", "--prop", "p=1"], { input: "from stdin" });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    const id = json(fromStdin).messageId as string;
    const fromFile = json(await run(url, ["--json", "publish", t, "--body-file", join(dir, "body.txt"), "--at", "2026-12-24T09:00", "--tz", "Europe/Paris", "--dedup", "d-1"]));
    expect(fromFile).toMatchObject({ deliverAtLocal: "2026-12-24T09:00", timeZone: "Europe/Paris", deliverAt: Date.parse("2026-12-24T08:00:00Z") });
    expect(json(await run(url, ["--json", "publish", t, "again", "--dedup", "d-1"]))).toMatchObject({ messageId: fromFile.messageId, duplicate: true });
    const shown = json(await run(url, ["--json", "show", t, id]));
    expect(shown).toMatchObject({ body: "from stdin", key: "k1", tag: "a", properties: { p: "1" }, state: "scheduled" });
    expect((await run(url, ["show", t, id])).stdout).toMatch(/state\s+│ scheduled/);
    expect(json(await run(url, ["--json", "ls", t, "--all", "--limit", "1"])).messages).toHaveLength(2);
    expect((await run(url, ["ls", t])).stdout).toContain(id);
    const stats = await run(url, ["stats", t]);
    expect(stats.stdout).toMatch(/due forecast:[\s\S]*next hour[\s\S]*│ 0\s+│ 1\s+│ 1\s+│ 1\s+│/);
    expect(json(await run(url, ["--json", "reschedule", t, id, "--delay", "2h"]))).toMatchObject({ outcome: "rescheduled" });
    expect(json(await run(url, ["--json", "cancel", t, id]))).toMatchObject({ outcome: "cancelled" });
    expect(json(await run(url, ["--json", "cancel", t, "--key", "k1"])).results).toEqual([{ messageId: id, outcome: "cancelled" }]);

    expect((await run(url, ["show", t, "0".repeat(32)])).code).toBe(3);
    expect((await run(url, ["show", t, "nope"])).code).toBe(1);
    expect((await run(url, ["publish", t, "x", "--delay", "soon"])).code).toBe(2);
    expect((await run(url, ["publish"])).code).toBe(2);
    expect((await run(url, ["frobnicate"])).code).toBe(2);
    const down = await run("http://127.0.0.1:9", ["--no-retry", "health"]);
    expect(down.code).toBe(5);
    expect(down.stderr).toContain("NetworkError");
  });

  it("publish --file messages.ndjson in batches with a progress bar; a bad line fails alone (exit 4)", async () => {
    const t = `cli-${randomUUID().slice(0, 8)}`;
    const dir = mkdtempSync(join(tmpdir(), "delayq-cli-"));
    const lines = [...Array.from({ length: 39 }, (_, i) => JSON.stringify({ body: `m${i}`, delayMs: 60_000 })), JSON.stringify("a plain string body"), JSON.stringify({ body: "bad", tag: "x".repeat(65) })];
    writeFileSync(join(dir, "messages.ndjson"), `${lines.join("\n")}\n`);
    const r = await run(url, ["publish", t, "--file", join(dir, "messages.ndjson"), "--progress"]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/^published 40 of 41 messages to/);
    expect(r.stdout).toContain("line 41: InvalidArgument");
    expect(r.stderr).toMatch(/publish \[=+\] 41\/41 100%/);
    expect(json(await run(url, ["--json", "stats", t])).scheduled).toBe(39);
  });

  it("consume, nack --delay, ack; groups and topics settings; dead letters and redrive --all with a progress bar", async () => {
    const t = `cli-${randomUUID().slice(0, 8)}`;
    expect(json(await run(url, ["--json", "topics", "set", t, "--max-delay", "2d", "--over-max-delay", "reject"]))).toMatchObject({ maxDelayMs: 172_800_000, overMaxDelay: "reject" });
    expect((await run(url, ["topics", "get", t])).stdout).toContain("172800000");
    expect(json(await run(url, ["--json", "topics", "ls"])).topics).toContain(t);
    expect(json(await run(url, ["--json", "groups", "set", t, "g", "--max-receive", "2", "--backoff", "exponential:1:8", "--dead-letter", "on"]))).toMatchObject({
      maxReceiveCount: 2,
      retryBackoff: { mode: "exponential", baseSeconds: 1, capSeconds: 8 },
    });
    expect((await run(url, ["groups", "ls", t])).stdout).toMatch(/│ g\s+│ 30\s+│ 2\s+│ exponential 1s..8s/);
    await run(url, ["publish", t, "one"]);
    const first = json(await run(url, ["--json", "consume", t, "g", "--wait", "5"]));
    expect(first).toMatchObject({ body: "one", consumedTimes: 1 });
    expect(json(await run(url, ["--json", "nack", t, "g", first.receiptHandle, "--delay", "0"]))).toMatchObject({ outcome: "requeued" });
    const second = json(await run(url, ["--json", "consume", t, "g", "--wait", "5"]));
    expect(second.consumedTimes).toBe(2);
    expect((await run(url, ["ack", t, "g", first.receiptHandle, second.receiptHandle])).code).toBe(4); // the first handle is spent
    expect((await run(url, ["consume", t, "g", "--wait", "1"])).stderr).toContain("no message");

    // dead letters: two deliveries, both nacked
    await run(url, ["publish", t, "poison"]);
    for (let i = 0; i < 2; i++) {
      const m = json(await run(url, ["--json", "consume", t, "g", "--wait", "5"]));
      await run(url, ["nack", t, "g", m.receiptHandle, "--delay", "0"]);
    }
    expect(json(await run(url, ["--json", "dead-letters", t, "g"])).deadLetters).toMatchObject([{ reason: "maxReceiveCount", consumedTimes: 2 }]);
    expect((await run(url, ["dead-letters", t, "g"])).stdout).toMatch(/maxReceiveCount/);
    const redriven = await run(url, ["redrive", t, "g", "--all", "--progress"]);
    expect(redriven.stdout.trim()).toBe(`redrove 1 into ${t}/g`);
    expect(redriven.stderr).toMatch(/redrive \[=+\] 1\/1 100%/);
    expect((await run(url, ["redrive", t, "g"])).code).toBe(2);
    expect(json(await run(url, ["--json", "groups", "rm", t, "g"]))).toEqual({ topic: t, group: "g", deleted: true });
    expect((await run(url, ["groups", "get", t, "g"])).code).toBe(3);
  });

  it("schedules create, ls, get, rm", async () => {
    const name = `s-${randomUUID().slice(0, 8)}`;
    expect((await run(url, ["schedules", "create", name, "reports", "cron(0 9 ? * MON-FRI *)", "build the report", "--tz", "Europe/Paris", "--tag", "daily"])).stdout).toContain(
      `created schedule ${name}`,
    );
    expect((await run(url, ["schedules", "ls"])).stdout).toMatch(new RegExp(`${name}\\s+│ reports\\s+│ cron\\(0 9 \\? \\* MON-FRI \\*\\)\\s+│ Europe/Paris`));
    expect(json(await run(url, ["--json", "schedules", "get", name]))).toMatchObject({ timeZone: "Europe/Paris", message: { tag: "daily" } });
    expect((await run(url, ["schedules", "create", name, "reports", "rate(1 day)", "x"])).code).toBe(1);
    expect((await run(url, ["schedules", "rm", name])).stdout.trim()).toBe(`deleted schedule ${name}`);
    expect((await run(url, ["schedules", "get", name])).code).toBe(3);
  });

  it("consume --follow prints each message as it arrives (NDJSON with --json) and stops gracefully on SIGTERM", async () => {
    // Prepare
    const t = `cli-${randomUUID().slice(0, 8)}`;
    await run(url, ["groups", "set", t, "g"]);
    const seen: string[] = [];
    const follower = delayq(url, ["--json", "consume", t, "g", "--follow", "--ack", "--wait", "10"], { onLine: (l) => seen.push(l) });
    // Act
    await run(url, ["publish", t, "first"]);
    await run(url, ["publish", t, "second", "--delay", "500ms"]);
    const deadline = Date.now() + 20_000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    follower.child.kill("SIGTERM");
    const ended = await follower.done;
    // Assess
    expect(seen.map((l) => JSON.parse(l).body)).toEqual(["first", "second"]);
    expect(seen.every((l) => JSON.parse(l).acked === true && JSON.parse(l).receivedAt >= JSON.parse(l).deliverAt)).toBe(true);
    expect(ended.code).toBe(0);
  });

  it("sends the local API key, and says denied (exit 6) without it", async () => {
    const keyed = await startLocal({ args: ["--in-memory"], env: { LOCAL_API_KEY: "s3cret" } });
    expect((await run(keyed.url, ["stats", "t"])).code).toBe(6);
    const withKey = await run(keyed.url, ["--api-key", "s3cret", "--json", "stats", "t"]);
    expect(withKey.code, withKey.stderr).toBe(0);
    expect((await run(keyed.url, ["--json", "stats", "t"], { env: { DELAYQ_API_KEY: "s3cret" } })).code).toBe(0);
  });

  it("signs with SigV4 and the default credential chain with --region (or --profile), as for a deployed stack", async () => {
    // Prepare: a server that verifies SigV4 as API Gateway's IAM authorization does
    const credentials = { accessKeyId: "AKIDCLITEST", secretAccessKey: "cli/secret" };
    const gateway = await startSigV4Server(memoryApp(Date.now()).runtime.app, credentials, "eu-west-1");
    const env = { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_PROFILE: "", AWS_CONFIG_FILE: "/nonexistent", AWS_SHARED_CREDENTIALS_FILE: "/nonexistent" };
    try {
      // Act
      const signed = await run(gateway.url, ["--region", "eu-west-1", "--json", "publish", "signed", "hello"], { env });
      const unsigned = await run(gateway.url, ["--json", "stats", "signed"], { env });
      const wrong = await run(gateway.url, ["--region", "eu-west-1", "stats", "signed"], { env: { ...env, AWS_SECRET_ACCESS_KEY: "nope" } });
      // Assess
      expect(signed.code, signed.stderr).toBe(0);
      expect(JSON.parse(signed.stdout).messageId).toMatch(/^[0-9A-F]{32}$/);
      expect(gateway.verified).toBe(1);
      expect(unsigned.code).toBe(6);
      expect(wrong.code).toBe(6);
      expect(wrong.stderr).toContain("GatewayError");
    } finally {
      await gateway.close();
    }
  });

  it("runs the README's client example (client/examples/close-orders.ts) with only the endpoint given", async () => {
    const t = `ex-${randomUUID().slice(0, 8)}`;
    const child = spawn(process.execPath, ["--import", "tsx", join(PROJECT_ROOT, "client/examples/close-orders.ts"), t], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DELAYQ_ENDPOINT: url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c;
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code, out).toBe(0);
    expect(out).toMatch(/^published [0-9A-F]{32}, due at \S+\nreceived "close order 42" \d+ ms after its deliver time\nacked 1, nacked 0\n$/);
  });
});
