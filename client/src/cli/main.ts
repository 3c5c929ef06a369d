import { readFileSync } from "node:fs";
import { SingleBar } from "cli-progress";
import { Command, CommanderError, Option } from "commander";
import { DEFAULT_ENDPOINT, DelayqClient, type PublishInput } from "../client.js";
import type { ConsumedMessage } from "../consumer.js";
import { DelayqError } from "../errors.js";
import type * as Api from "../schema.js";
import { UsageError, duration, integer, messageBody, properties, readStdin, timing } from "./input.js";
import type { ConsoleFiles } from "./console.js";
import { type Output, output, pairs, relative, table, when } from "./output.js";

/** What an exit code means (README "Command line"). */
export const EXIT = {
  ok: 0,
  /** The API refused the request (a 4xx not listed below), or another failure. */
  refused: 1,
  /** The command line itself is wrong: unknown command or option, missing argument, bad value. */
  usage: 2,
  /** The topic's message, group or schedule does not exist (NotFound, MessageNotExist). */
  notFound: 3,
  /** Some items of a bulk command failed (ack, publish --file, redrive), the others succeeded. */
  partial: 4,
  /** The service could not be reached or is unavailable (network, timeout, 429, 5xx): retry later. */
  unavailable: 5,
  /** Authentication or authorization failed (401, 403). */
  denied: 6,
} as const;

interface Globals {
  endpoint?: string;
  apiKey?: string;
  profile?: string;
  region?: string;
  sigv4?: boolean;
  json?: boolean;
  retry: boolean;
  progress?: boolean;
  verbose?: boolean;
}

class PartialFailure extends Error {}

function clientOf(g: Globals): DelayqClient {
  const aws = g.profile !== undefined || g.region !== undefined || g.sigv4 ? { ...(g.profile !== undefined && { profile: g.profile }), ...(g.region !== undefined && { region: g.region }) } : undefined;
  return new DelayqClient({
    ...(g.endpoint !== undefined && { endpoint: g.endpoint }),
    ...(g.apiKey !== undefined && { apiKey: g.apiKey }),
    ...(aws && { aws }),
    ...(!g.retry && { retry: false as const }),
    ...(g.verbose && {
      onRequest: (e: { method: string; url: string; attempt: number; status?: number; ms?: number }) =>
        process.stderr.write(
          `delayq: ${new Date().toISOString()} ${e.method} ${e.url}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}${e.status !== undefined ? ` → ${e.status} in ${e.ms} ms` : ""}\n`,
        ),
    }),
  });
}

/** A progress bar on stderr for bulk commands: shown on a terminal, or when --progress asks for it. */
function progressBar(g: Globals, label: string, total: number) {
  const show = !g.json && (g.progress ?? process.stderr.isTTY === true);
  if (!show) return { update: (_n: number, _total?: number) => {}, stop: () => {} };
  const bar = new SingleBar({
    format: `${label} [{bar}] {value}/{total} {percentage}% | {duration_formatted}`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 200,
    hideCursor: process.stderr.isTTY === true,
  });
  bar.start(total, 0);
  return {
    update: (n: number, newTotal?: number) => {
      if (newTotal !== undefined) bar.setTotal(newTotal);
      bar.update(n);
    },
    stop: () => bar.stop(),
  };
}

function messageLine(m: ConsumedMessage | Api.Message, receivedAt: number, acked: boolean): string {
  const late = receivedAt - m.deliverAt;
  return `${m.messageId}  ${JSON.stringify(m.body)}${m.tag ? `  tag ${m.tag}` : ""}
  due ${new Date(m.deliverAt).toISOString()}, received ${late >= 0 ? `${late} ms after` : `${-late} ms BEFORE`}; delivery ${m.consumedTimes}${acked ? ", acked" : `, handle ${m.receiptHandle}`}`;
}

/** What the launcher knows that the bundled CLI cannot find by itself. */
export interface CliContext {
  /** For `delayq console`: the module that serves the console's files (console/assets.ts, bundled or not) and the console's folder. */
  console?: { assetsModule: string; dir: string };
}

function program(out: { current: Output }, context: CliContext = {}): Command {
  const root = new Command("delayq")
    .description("The delayq command line: publish, consume, look at and fix a delayq queue (npm start or a deployed stack).")
    .addOption(new Option("--endpoint <url>", `API base URL: the stack's ApiUrl, or the local server (default ${DEFAULT_ENDPOINT})`).env("DELAYQ_ENDPOINT"))
    .addOption(new Option("--api-key <key>", "the local server's LOCAL_API_KEY").env("DELAYQ_API_KEY"))
    .option("--profile <name>", "AWS profile to sign with (SigV4, execute-api); implies signing")
    .option("--region <region>", "AWS region of the stack (default: from the endpoint, else AWS_REGION); implies signing")
    .option("--sigv4", "sign with SigV4 and the default credential chain (automatic for *.execute-api.*.amazonaws.com)")
    .option("--json", "print JSON for scripts instead of tables")
    .option("--no-retry", "do not retry 429/503 answers")
    .option("--progress", "show progress bars even when stderr is not a terminal")
    .addOption(new Option("--verbose", "print each request and its answer's status on stderr").env("DELAYQ_VERBOSE"))
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      `
Exit codes: 0 done, 1 refused by the API, 2 usage, 3 not found, 4 partly failed, 5 unavailable (retry later), 6 denied.
Examples:
  delayq publish orders "close order 42" --delay 30s
  delayq publish orders --at 2026-12-24T09:00 --tz Europe/Paris "open the advent door"
  delayq consume orders billing --ack --follow
  delayq stats orders`,
    );
  root.hook("preAction", (_cmd, action) => {
    out.current = output(action.optsWithGlobals<Globals>().json === true);
  });
  const g = (cmd: Command) => cmd.optsWithGlobals<Globals>();
  const client = (cmd: Command) => clientOf(g(cmd));
  const o = () => out.current;

  root
    .command("publish")
    .description("publish a message (body from the argument, - for stdin, --body-file), or many (--file messages.ndjson)")
    .argument("<topic>")
    .argument("[body]", "the message body; - reads standard input")
    .option("--body-file <path>", "read the body from a file (- for standard input)")
    .option("--file <path>", "publish every line of an NDJSON file (- for stdin): a publish body object, or a JSON string")
    .option("--delay <duration>", "deliver after this long: 500ms, 30s, 5m, 2h, 1d")
    .option("--at <time>", "deliver at: ISO-8601 with offset, epoch ms, or a local time with --tz")
    .option("--tz <zone>", "IANA time zone of a local --at, e.g. Europe/Paris")
    .option("--dedup <id>", "idempotency key: a repeat returns the original message")
    .option("--tag <tag>")
    .option("--key <key>", "business key (show, cancel --key)")
    .option("--prop <name=value...>", "user properties")
    .option("--ttl <duration>", "expire if not delivered within this long")
    .action(async (topic: string, body: string | undefined, opts, cmd: Command) => {
      const c = client(cmd);
      if (opts.file !== undefined) return publishFile(c, g(cmd), o(), topic, opts.file, opts);
      const message: PublishInput = {
        body: await messageBody(body, opts.bodyFile),
        ...timing(opts),
        ...(opts.dedup !== undefined && { dedupId: opts.dedup }),
        ...(opts.tag !== undefined && { tag: opts.tag }),
        ...(opts.key !== undefined && { key: opts.key }),
        ...(opts.prop !== undefined && { properties: properties(opts.prop) }),
        ...(opts.ttl !== undefined && { ttlMs: duration(opts.ttl, "--ttl") }),
      };
      const r = await c.publish(topic, message);
      o().result(r, () => `${r.duplicate ? "already published" : "published"} ${r.messageId} to ${topic}, deliver at ${when(r.deliverAt)}${r.overMaxDelay ? " (beyond the maximum delay: delivered now)" : ""}`);
    });

  root
    .command("consume")
    .description("receive messages of a group (long poll); --follow keeps receiving until Ctrl-C")
    .argument("<topic>")
    .argument("<group>")
    .option("--ack", "acknowledge each message once printed")
    .option("--follow", "keep consuming until interrupted (SIGINT/SIGTERM stop gracefully)")
    .option("--max <n>", "messages per call, 1..16", "1")
    .option("--wait <seconds>", "long-poll wait per call, 0..30", "20")
    .option("--tag <filter>", "only these tags: a||b")
    .option("--visibility <seconds>", "visibility of each delivery")
    .action(async (topic: string, group: string, opts, cmd: Command) => {
      const c = client(cmd);
      const stop = new AbortController();
      const onSignal = () => (stop.signal.aborted ? process.exit(130) : stop.abort());
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      let count = 0;
      try {
        for await (const m of c.consume(topic, group, {
          max: integer(opts.max, "--max", 1, 16),
          waitSeconds: integer(opts.wait, "--wait", 0, 30),
          ...(opts.tag !== undefined && { tag: opts.tag }),
          ...(opts.visibility !== undefined && { visibilitySeconds: integer(opts.visibility, "--visibility", 1, 43_200) }),
          signal: stop.signal,
          once: !opts.follow,
        })) {
          const receivedAt = Date.now();
          if (opts.ack) await m.ack();
          count++;
          o().result({ ...m.toJSON(), receivedAt, ...(opts.ack && { acked: true }) }, () => messageLine(m, receivedAt, opts.ack === true));
        }
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
      if (count === 0 && !opts.follow) o().note(`no message in ${topic}/${group} within ${opts.wait} s`);
    });

  root
    .command("ack")
    .description("acknowledge deliveries by receipt handle")
    .argument("<topic>")
    .argument("<group>")
    .argument("<handles...>")
    .action(async (topic: string, group: string, handles: string[], _opts, cmd: Command) => {
      const r = await client(cmd).ack(topic, group, handles);
      o().result(r, () => [`acked ${r.acked}`, ...r.failed.map((f) => `failed ${f.receiptHandle.slice(0, 24)}…: ${f.code}: ${f.message}`)].join("\n"));
      if (r.failed.length > 0) throw new PartialFailure();
    });

  root
    .command("nack")
    .description("give a delivery back: visible again after --delay (default: the group's retry backoff)")
    .argument("<topic>")
    .argument("<group>")
    .argument("<handle>")
    .option("--delay <duration>", "visible again after this long (0 = now)")
    .action(async (topic: string, group: string, handle: string, opts, cmd: Command) => {
      const r = await client(cmd).nack(topic, group, handle, opts.delay !== undefined ? { delayMs: duration(opts.delay, "--delay") } : {});
      o().result(r, () => `${r.messageId} ${r.outcome}${r.nextVisibleAt !== undefined ? `, visible again ${when(r.nextVisibleAt)}` : ""}`);
    });

  root
    .command("cancel")
    .description("cancel a message before its deliver time, or every message of a --key")
    .argument("<topic>")
    .argument("[messageId]")
    .option("--key <key>", "cancel every message published with this key")
    .action(async (topic: string, id: string | undefined, opts, cmd: Command) => {
      const c = client(cmd);
      if ((id === undefined) === (opts.key === undefined)) throw new UsageError("give a message id or --key <key>, one of the two");
      if (id !== undefined) {
        const r = await c.cancel(topic, id);
        o().result(r, () => `${r.messageId} ${r.outcome}`);
      } else {
        const r = await c.cancelByKey(topic, opts.key);
        o().result(r, () => r.results.map((x) => `${x.messageId} ${x.outcome}`).join("\n"));
      }
    });

  root
    .command("reschedule")
    .description("move a message's deliver time (--delay, --at [--tz]) or deliver it --now")
    .argument("<topic>")
    .argument("<messageId>")
    .option("--delay <duration>", "deliver this long from now")
    .option("--at <time>", "deliver at: ISO-8601 with offset, epoch ms, or a local time with --tz")
    .option("--tz <zone>", "IANA time zone of a local --at")
    .option("--now", "deliver now")
    .action(async (topic: string, id: string, opts, cmd: Command) => {
      const when_ = timing(opts);
      if (Object.keys(when_).length === 0) throw new UsageError("give the new time: --delay, --at or --now");
      const r = await client(cmd).reschedule(topic, id, when_);
      o().result(r, () => `${r.messageId} ${r.outcome}${r.deliverAt !== undefined ? `, deliver at ${when(r.deliverAt)}` : ""}`);
    });

  root
    .command("show")
    .description("look a message up: its state, content and each group's delivery")
    .argument("<topic>")
    .argument("<messageId>")
    .action(async (topic: string, id: string, _opts, cmd: Command) => {
      const m = await client(cmd).getMessage(topic, id);
      o().result(m, () => {
        const head = pairs([
          ["messageId", m.messageId],
          ["topic", m.topic],
          ["state", m.state],
          ["body", m.body.length > 200 ? `${m.body.slice(0, 200)}…` : m.body],
          ["tag", m.tag],
          ["key", m.key],
          ["properties", Object.keys(m.properties).length > 0 ? JSON.stringify(m.properties) : undefined],
          ["publishedAt", when(m.publishedAt)],
          ["deliverAt", when(m.deliverAt)],
          ["deliverAtLocal", m.deliverAtLocal && `${m.deliverAtLocal} ${m.timeZone}`],
          ["dedupId", m.dedupId],
          ["expiresAt", when(m.expiresAt)],
          ["cancelledAt", m.cancelledAt === undefined ? undefined : when(m.cancelledAt)],
        ]);
        const groups = m.groups.length
          ? table(
              ["group", "state", "deliveries", "next visible", "acked"],
              m.groups.map((d) => [d.group, d.state, d.consumedTimes, d.nextVisibleAt && when(d.nextVisibleAt), d.ackedAt && new Date(d.ackedAt).toISOString()]),
            )
          : "no group has taken it yet";
        return `${head}\n${groups}`;
      });
    });

  root
    .command("ls")
    .description("list messages waiting for their deliver time, oldest first")
    .argument("<topic>")
    .option("--from <time>", "deliverAt ≥ this: ISO-8601 or epoch ms")
    .option("--to <time>", "deliverAt ≤ this: ISO-8601 or epoch ms")
    .option("--tag <tag>")
    .option("--limit <n>", "messages per page, 1..1000", "100")
    .option("--all", "every page, not just the first")
    .action(async (topic: string, opts, cmd: Command) => {
      const c = client(cmd);
      const query = {
        ...(opts.from !== undefined && { from: opts.from }),
        ...(opts.to !== undefined && { to: opts.to }),
        ...(opts.tag !== undefined && { tag: opts.tag }),
        limit: integer(opts.limit, "--limit", 1, 1000),
      };
      let page: Api.MessageList;
      if (opts.all) {
        const messages: Api.MessageList["messages"] = [];
        for await (const m of c.scheduledMessages(topic, query)) messages.push(m);
        page = { messages };
      } else page = await c.listMessages(topic, query);
      const now = Date.now();
      o().result(page, () =>
        [
          table(
            ["messageId", "deliverAt", "in", "tag"],
            page.messages.map((m) => [m.messageId, new Date(m.deliverAt).toISOString(), relative(m.deliverAt - now), m.tag]),
          ),
          `${page.messages.length} scheduled${page.cursor ? " (more: --all, or the cursor with --json)" : ""}`,
        ].join("\n"),
      );
    });

  root
    .command("stats")
    .description("a topic's counts and due forecast, per group")
    .argument("<topic>")
    .action(async (topic: string, _opts, cmd: Command) => {
      const s = await client(cmd).stats(topic);
      o().result(s, () =>
        [
          pairs([
            ["topic", s.topic],
            ["scheduled", s.scheduled],
            ["held (no group yet)", s.held],
            ["oldest due, not taken", s.oldestDueAgeMs ? relative(-s.oldestDueAgeMs) : "—"],
          ]),
          "due forecast:",
          table(["next minute", "next hour", "next day", "next week"], [[s.dueWithin.minute, s.dueWithin.hour, s.dueWithin.day, s.dueWithin.week]]),
          Object.keys(s.groups).length
            ? table(
                ["group", "ready", "in flight", "dead letters", "oldest ready"],
                Object.entries(s.groups).map(([name, x]) => [name, x.ready, x.inFlight, x.deadLettered, x.oldestReadyAgeMs ? relative(-x.oldestReadyAgeMs) : "—"]),
              )
            : "no groups",
          ...(s.groupsTruncated ? ["(more groups than the 100 reported)"] : []),
        ].join("\n"),
      );
    });

  root
    .command("dead-letters")
    .description("a group's dead letters, oldest failure first")
    .argument("<topic>")
    .argument("<group>")
    .option("--limit <n>", "per page, 1..100", "20")
    .option("--all", "every page")
    .action(async (topic: string, group: string, opts, cmd: Command) => {
      const c = client(cmd);
      let list: Api.DeadLetterList;
      if (opts.all) {
        const deadLetters: Api.DeadLetter[] = [];
        for await (const d of c.deadLetters(topic, group)) deadLetters.push(d);
        list = { deadLetters };
      } else list = await c.listDeadLetters(topic, group, { limit: integer(opts.limit, "--limit", 1, 100) });
      o().result(list, () =>
        [
          table(
            ["messageId", "failed", "reason", "deliveries", "tag"],
            list.deadLetters.map((d) => [d.messageId, new Date(d.lastFailureAt).toISOString(), d.reason, d.consumedTimes, d.tag]),
          ),
          `${list.deadLetters.length} dead letters${list.cursor ? " (more: --all)" : ""}`,
        ].join("\n"),
      );
    });

  root
    .command("redrive")
    .description("move dead letters back into the group, visible now: the ids given, or --all")
    .argument("<topic>")
    .argument("<group>")
    .argument("[messageIds...]")
    .option("--all", "every dead letter of the group (in calls of up to 1000, with a progress bar)")
    .action(async (topic: string, group: string, ids: string[], opts, cmd: Command) => {
      const c = client(cmd);
      if ((ids.length === 0) === !opts.all) throw new UsageError("give message ids or --all, one of the two");
      const total = { redriven: 0, failed: [] as Api.RedriveResponse["failed"], calls: 0 };
      if (opts.all) {
        const before = (await c.stats(topic)).groups[group]?.deadLettered ?? 0;
        const bar = progressBar(g(cmd), "redrive", before);
        try {
          for (;;) {
            const r = await c.redrive(topic, group, { all: true });
            total.calls++;
            total.redriven += r.redriven;
            total.failed.push(...r.failed);
            bar.update(total.redriven, Math.max(before, total.redriven));
            if (!r.more) break;
          }
        } finally {
          bar.stop();
        }
      } else {
        for (let i = 0; i < ids.length; i += 100) {
          const r = await c.redrive(topic, group, { messageIds: ids.slice(i, i + 100) });
          total.calls++;
          total.redriven += r.redriven;
          total.failed.push(...r.failed);
        }
      }
      o().result({ redriven: total.redriven, failed: total.failed }, () =>
        [`redrove ${total.redriven} into ${topic}/${group}`, ...total.failed.map((f) => `failed ${f.messageId}: ${f.code}`)].join("\n"),
      );
      if (total.failed.length > 0) throw new PartialFailure();
    });

  const topics = root.command("topics").description("topics: list, settings");
  topics
    .command("ls")
    .description("the topics (published to or configured), by name")
    .action(async (_opts, cmd: Command) => {
      const all: string[] = [];
      for await (const t of client(cmd).topics()) all.push(t);
      o().result({ topics: all }, () => (all.length ? all.join("\n") : "no topics"));
    });
  const showTopic = (t: Api.TopicSettings) =>
    pairs([
      ["topic", t.topic],
      ["maxDelayMs", `${t.maxDelayMs} (${relative(t.maxDelayMs).replace("in ", "")})`],
      ["overMaxDelay", t.overMaxDelay],
      ["messageTtlMs", t.messageTtlMs],
      ["retentionMs", `${t.retentionMs} (${relative(t.retentionMs).replace("in ", "")})`],
    ]);
  topics
    .command("get")
    .description("a topic's settings")
    .argument("<topic>")
    .action(async (topic: string, _opts, cmd: Command) => {
      const t = await client(cmd).getTopic(topic);
      o().result(t, () => showTopic(t));
    });
  topics
    .command("set")
    .description("replace a topic's settings (a setting left out goes back to its default)")
    .argument("<topic>")
    .option("--max-delay <duration>", "longest delay accepted, up to 366d")
    .addOption(new Option("--over-max-delay <rule>", "beyond the maximum").choices(["reject", "deliver-now"]))
    .option("--ttl <duration>", "default TTL of its messages")
    .option("--retention <duration>", "kept after the deliver time, 1m..366d")
    .action(async (topic: string, opts, cmd: Command) => {
      const t = await client(cmd).putTopic(topic, {
        ...(opts.maxDelay !== undefined && { maxDelayMs: duration(opts.maxDelay, "--max-delay") }),
        ...(opts.overMaxDelay !== undefined && { overMaxDelay: opts.overMaxDelay }),
        ...(opts.ttl !== undefined && { messageTtlMs: duration(opts.ttl, "--ttl") }),
        ...(opts.retention !== undefined && { retentionMs: duration(opts.retention, "--retention") }),
      });
      o().result(t, () => showTopic(t));
    });

  const groups = root.command("groups").description("consumer groups: list, settings, delete");
  const groupRow = (x: Api.GroupSettings) => [
    x.group,
    x.visibilitySeconds,
    x.maxReceiveCount,
    `${x.retryBackoff.mode} ${x.retryBackoff.baseSeconds}s..${x.retryBackoff.capSeconds}s`,
    x.deadLetter,
    x.tagFilter,
    new Date(x.createdAt).toISOString(),
  ];
  const groupHead = ["group", "visibility s", "max receives", "retry backoff", "dead letters", "tags", "created"];
  groups
    .command("ls")
    .description("a topic's groups with their settings")
    .argument("<topic>")
    .action(async (topic: string, _opts, cmd: Command) => {
      const all: Api.GroupSettings[] = [];
      for await (const x of client(cmd).groups(topic)) all.push(x);
      o().result({ groups: all }, () => (all.length ? table(groupHead, all.map(groupRow)) : `no groups in ${topic}`));
    });
  groups
    .command("get")
    .description("a group's settings")
    .argument("<topic>")
    .argument("<group>")
    .action(async (topic: string, group: string, _opts, cmd: Command) => {
      const x = await client(cmd).getGroup(topic, group);
      o().result(x, () => table(groupHead, [groupRow(x)]));
    });
  groups
    .command("set")
    .description("replace a group's settings (registers it; a setting left out goes back to its default)")
    .argument("<topic>")
    .argument("<group>")
    .option("--visibility <seconds>", "visibility of a delivery, 1..43200")
    .option("--max-receive <n>", "deliveries before dead-lettering, 1..1000")
    .option("--backoff <spec>", "retry backoff: fixed:<s> or exponential:<base s>[:<cap s>]")
    .addOption(new Option("--dead-letter <on|off>", "keep failed messages").choices(["on", "off"]))
    .option("--tag-filter <tags>", "subscription: a||b, or *")
    .action(async (topic: string, group: string, opts, cmd: Command) => {
      let retryBackoff: Api.RetryBackoff | undefined;
      if (opts.backoff !== undefined) {
        const m = /^(fixed|exponential):(\d+)(?::(\d+))?$/.exec(opts.backoff);
        if (!m) throw new UsageError(`--backoff takes fixed:<seconds> or exponential:<base>[:<cap>] (seconds); got "${opts.backoff}"`);
        retryBackoff = { mode: m[1] as "fixed" | "exponential", baseSeconds: Number(m[2]), ...(m[3] !== undefined && { capSeconds: Number(m[3]) }) };
      }
      const x = await client(cmd).putGroup(topic, group, {
        ...(opts.visibility !== undefined && { visibilitySeconds: integer(opts.visibility, "--visibility", 1, 43_200) }),
        ...(opts.maxReceive !== undefined && { maxReceiveCount: integer(opts.maxReceive, "--max-receive", 1, 1000) }),
        ...(retryBackoff && { retryBackoff }),
        ...(opts.deadLetter !== undefined && { deadLetter: opts.deadLetter }),
        ...(opts.tagFilter !== undefined && { tagFilter: opts.tagFilter }),
      });
      o().result(x, () => table(groupHead, [groupRow(x)]));
    });
  groups
    .command("rm")
    .description("unregister a group, with its pending deliveries and dead letters")
    .argument("<topic>")
    .argument("<group>")
    .action(async (topic: string, group: string, _opts, cmd: Command) => {
      const r = await client(cmd).deleteGroup(topic, group);
      o().result(r, () => `deleted group ${r.group} of ${r.topic}`);
    });

  const schedules = root.command("schedules").description("recurring schedules");
  const scheduleRow = (s: Api.Schedule) => [s.name, s.topic, s.expression, s.timeZone, s.message.body.slice(0, 60), s.message.tag];
  const scheduleHead = ["name", "topic", "expression", "time zone", "body", "tag"];
  schedules
    .command("ls")
    .description("every recurring schedule")
    .action(async (_opts, cmd: Command) => {
      const r = await client(cmd).listSchedules();
      o().result(r, () => (r.schedules.length ? table(scheduleHead, r.schedules.map(scheduleRow)) : "no schedules"));
    });
  schedules
    .command("get")
    .description("one recurring schedule")
    .argument("<name>")
    .action(async (name: string, _opts, cmd: Command) => {
      const s = await client(cmd).getSchedule(name);
      o().result(s, () => table(scheduleHead, [scheduleRow(s)]));
    });
  schedules
    .command("create")
    .description('create a schedule that publishes a message each time it fires: "cron(0 9 ? * MON-FRI *)" or "rate(5 minutes)"')
    .argument("<name>")
    .argument("<topic>")
    .argument("<expression>")
    .argument("<body>")
    .option("--tz <zone>", "the zone cron fields are read in (default UTC)")
    .option("--tag <tag>")
    .option("--key <key>")
    .action(async (name: string, topic: string, expression: string, body: string, opts, cmd: Command) => {
      const s = await client(cmd).createSchedule({
        name,
        topic,
        expression,
        ...(opts.tz !== undefined && { timeZone: opts.tz }),
        message: { body, ...(opts.tag !== undefined && { tag: opts.tag }), ...(opts.key !== undefined && { key: opts.key }) },
      });
      o().result(s, () => `created schedule ${s.name}: ${s.expression} (${s.timeZone}) → ${s.topic}`);
    });
  schedules
    .command("rm")
    .description("delete a recurring schedule")
    .argument("<name>")
    .action(async (name: string, _opts, cmd: Command) => {
      const r = await client(cmd).deleteSchedule(name);
      o().result(r, () => `deleted schedule ${r.name}`);
    });

  root
    .command("health")
    .description("whether the server and its store answer")
    .action(async (_opts, cmd: Command) => {
      const c = client(cmd);
      const r = await c.health();
      o().result(r, () => `ok: ${c.endpoint.href}`);
    });

  root
    .command("console")
    .description("the web console for --endpoint (a deployed stack: calls signed with your AWS credentials here, never in the browser), on 127.0.0.1 until Ctrl-C")
    .option("--port <port>", "local port (0 picks a free one)", "8090")
    .action(async (opts: { port: string }, cmd: Command) => {
      if (!/^\d{1,5}$/.test(opts.port) || Number(opts.port) > 65_535) throw new UsageError(`--port must be a port number, got ${opts.port}`);
      if (!context.console) throw new UsageError("delayq console needs the repository's console/ folder beside client/ (run it from a clone)");
      const c = client(cmd);
      const { startConsoleServer } = await import("./console.js");
      const assets = (await import(context.console.assetsModule)) as ConsoleFiles;
      const server = await startConsoleServer(c, { port: Number(opts.port), assets, consoleDir: context.console.dir });
      process.stderr.write(`delayq console for ${c.endpoint.href}${c.signing ? " (SigV4-signed)" : ""}: open ${server.url} — Ctrl-C stops it\n`);
      o().result({ url: server.url, endpoint: c.endpoint.href, signing: c.signing }, () => server.url);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
    });

  return root;
}

/** publish --file: NDJSON lines in batches of 16, with a progress bar. */
async function publishFile(c: DelayqClient, g: Globals, out: Output, topic: string, file: string, opts: Record<string, unknown>): Promise<void> {
  if (opts.delay !== undefined || opts.at !== undefined || opts.dedup !== undefined) {
    throw new UsageError("with --file each line gives its own delayMs / deliverAt / dedupId; --delay, --at and --dedup do not apply");
  }
  const text = file === "-" ? await readStdin() : readFileSync(file, "utf8");
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const messages = lines.map((line, i): PublishInput => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UsageError(`${file} line ${i + 1} is not JSON: give a publish body such as {"body":"…","delayMs":5000}, or a JSON string`);
    }
    if (typeof value === "string") return { body: value };
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UsageError(`${file} line ${i + 1} must be a JSON object or string`);
    return value as PublishInput;
  });
  const bar = progressBar(g, "publish", messages.length);
  const results: (Api.PublishResponse | Api.Error)[] = [];
  try {
    for (let i = 0; i < messages.length; i += 16) {
      const r = await c.publishBatch(topic, messages.slice(i, i + 16));
      results.push(...r.results);
      bar.update(results.length);
    }
  } finally {
    bar.stop();
  }
  const failed = results.flatMap((r, i) => ("error" in r ? [{ line: i + 1, ...r.error }] : []));
  out.result({ published: results.length - failed.length, failed, results }, () =>
    [`published ${results.length - failed.length} of ${results.length} messages to ${topic}`, ...failed.map((f) => `line ${f.line}: ${f.code}: ${f.message}`)].join("\n"),
  );
  if (failed.length > 0) throw new PartialFailure();
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[], context: CliContext = {}): Promise<number> {
  const out = { current: output(argv.includes("--json")) };
  const cli = program(out, context)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const sub of cli.commands) {
    sub.exitOverride();
    for (const leaf of sub.commands) leaf.exitOverride();
  }
  try {
    await cli.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof PartialFailure) return EXIT.partial;
    if (error instanceof UsageError) {
      process.stderr.write(`delayq: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof DelayqError) {
      process.stderr.write(`delayq: ${error.code}: ${error.message}${error.requestId ? ` (request ${error.requestId})` : ""}\n`);
      if (out.current.json) process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message, status: error.status } })}\n`);
      if (error.code === "NotFound" || error.code === "MessageNotExist") return EXIT.notFound;
      if (error.status === 401 || error.status === 403) return EXIT.denied;
      if (error.status === 0 || error.status === 429 || error.status >= 500) return EXIT.unavailable;
      return EXIT.refused;
    }
    process.stderr.write(`delayq: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.refused;
  }
}

