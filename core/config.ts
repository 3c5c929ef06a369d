import { invalid } from "./errors.js";

export const OverMaxDelay = { DeliverNow: "deliver-now", Reject: "reject" } as const;
export type OverMaxDelay = (typeof OverMaxDelay)[keyof typeof OverMaxDelay];

export const DAY_MS = 86_400_000;

/** Everything the queue is tuned by. Parsed once from an injected env object; nothing reads process.env at import. */
export interface QueueConfig {
  /** DynamoDB table (required on AWS; the local runtime supplies its own). */
  tableName: string;
  /** Write shards per lane of the due index. */
  shards: number;
  /** Default visibility of a delivery when neither the call nor the group sets one. */
  defaultVisibilitySeconds: number;
  /** Maximum delay of a topic without its own setting. */
  maxDelayMs: number;
  /**
   * What a delay beyond the maximum gets on a topic without its own `overMaxDelay`, whatever door it came
   * through. Unset (the default): each door's own rule (delay-limit.ts: the JSON fields and RocketMQ reject,
   * the RabbitMQ delay headers deliver at once).
   */
  overMaxDelay: OverMaxDelay | undefined;
  /** How long a message is kept after its deliver time, acked or not. */
  retentionMs: number;
  /** How often an idle long poll re-checks the index for new arrivals. */
  pollIntervalMs: number;
  /** After a read that found due messages published elsewhere, the next one comes this soon (doubling back to the poll interval; 0: off). */
  streamRecheckMs: number;
  /** The longest a long poll holds a request (API Gateway's integration limit is 30 s). */
  maxWaitMs: number;
  /** Upper bound on the group shards one sweeper run looks at. */
  sweepBudget: number;
  /** How long a consumer's lease on a group's shard lasts without renewal. */
  leaseMs: number;
  /** How long a process keeps its leases after a group's last waiting poll (0: release at once, as Lambda does). */
  leaseLingerMs: number;
  /**
   * Without lingering (LEASE_LINGER_MS 0): while calls answer quickly, how long past the 1 s look margin
   * a lease write holds, and so how long a lease stays with its process after the call that used it
   * answered, with no release write (0: released before every answer).
   */
  leaseKeepMs: number;
  /** Longest time a due-index entry may take to appear: cursors look again this far behind. */
  indexLagMs: number;
  /** A message can be cancelled or rescheduled until this long before its deliver time. */
  cancelMarginMs: number;
  /** Custom DynamoDB endpoint (DynamoDB Local); unset means the AWS service of the region. */
  dynamoEndpoint: string | undefined;
  /** Push shards: push groups spread over this many dispatchers, each held by its own lease. */
  pushShards: number;
  /** How often the sweeper looks ahead for due pushes (the sweeper's own interval: 60 s on AWS). */
  pushTickMs: number;
  /** A dispatcher is started at least this long before the first push it is for (cold start, a late tick). */
  pushLeadMs: number;
}

export const ENV = {
  tableName: "TABLE_NAME",
  shards: "SHARDS",
  defaultVisibilitySeconds: "DEFAULT_VISIBILITY_SECONDS",
  maxDelayMs: "MAX_DELAY_MS",
  overMaxDelay: "OVER_MAX_DELAY",
  retentionMs: "RETENTION_MS",
  pollIntervalMs: "POLL_INTERVAL_MS",
  streamRecheckMs: "STREAM_RECHECK_MS",
  maxWaitMs: "MAX_WAIT_MS",
  sweepBudget: "SWEEP_BUDGET",
  leaseMs: "LEASE_MS",
  leaseLingerMs: "LEASE_LINGER_MS",
  leaseKeepMs: "LEASE_KEEP_MS",
  indexLagMs: "INDEX_LAG_MS",
  cancelMarginMs: "CANCEL_MARGIN_MS",
  dynamoEndpoint: "DYNAMODB_ENDPOINT",
  pushShards: "PUSH_SHARDS",
  pushTickMs: "PUSH_TICK_MS",
  pushLeadMs: "PUSH_LEAD_MS",
} as const;

export const DEFAULTS = {
  shards: 2,
  defaultVisibilitySeconds: 30,
  maxDelayMs: 40 * DAY_MS,
  retentionMs: 3 * DAY_MS,
  pollIntervalMs: 1000,
  streamRecheckMs: 50,
  maxWaitMs: 28_000,
  sweepBudget: 500,
  leaseMs: 10_000,
  leaseLingerMs: 2_000,
  leaseKeepMs: 0,
  indexLagMs: 10_000,
  cancelMarginMs: 1_000,
  pushShards: 1,
  pushTickMs: 60_000,
  pushLeadMs: 15_000,
} as const;

/** At most this many index queries per second per waiting consumer. */
export const MAX_IDLE_REQUESTS_PER_SECOND = 5;

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    return fallback;
  }
  return Number(raw);
}

/** Parses the environment; throws one error naming every bad or missing key. */
export function loadConfig(env: Env, overrides: Partial<QueueConfig> = {}): QueueConfig {
  const problems: string[] = [];
  const tableName = overrides.tableName ?? env[ENV.tableName] ?? "";
  if (!tableName) problems.push(`${ENV.tableName} is required (the DynamoDB table name)`);
  const over = env[ENV.overMaxDelay] || undefined;
  if (over !== undefined && over !== OverMaxDelay.DeliverNow && over !== OverMaxDelay.Reject) {
    problems.push(`${ENV.overMaxDelay} must be "deliver-now", "reject" or unset (each door's own rule) (got "${over}")`);
  }
  const config: QueueConfig = {
    tableName,
    shards: int(env, ENV.shards, DEFAULTS.shards, 1, 64, problems),
    defaultVisibilitySeconds: int(env, ENV.defaultVisibilitySeconds, DEFAULTS.defaultVisibilitySeconds, 1, 43_200, problems),
    maxDelayMs: int(env, ENV.maxDelayMs, DEFAULTS.maxDelayMs, 0, 366 * DAY_MS, problems),
    overMaxDelay: over as OverMaxDelay | undefined,
    retentionMs: int(env, ENV.retentionMs, DEFAULTS.retentionMs, 60_000, 366 * DAY_MS, problems),
    pollIntervalMs: int(env, ENV.pollIntervalMs, DEFAULTS.pollIntervalMs, 50, 60_000, problems),
    streamRecheckMs: int(env, ENV.streamRecheckMs, DEFAULTS.streamRecheckMs, 0, 60_000, problems),
    maxWaitMs: int(env, ENV.maxWaitMs, DEFAULTS.maxWaitMs, 0, 29_500, problems),
    sweepBudget: int(env, ENV.sweepBudget, DEFAULTS.sweepBudget, 1, 100_000, problems),
    leaseMs: int(env, ENV.leaseMs, DEFAULTS.leaseMs, 3_000, 60_000, problems),
    leaseLingerMs: int(env, ENV.leaseLingerMs, DEFAULTS.leaseLingerMs, 0, 60_000, problems),
    leaseKeepMs: int(env, ENV.leaseKeepMs, DEFAULTS.leaseKeepMs, 0, 60_000, problems),
    indexLagMs: int(env, ENV.indexLagMs, DEFAULTS.indexLagMs, 0, 300_000, problems),
    cancelMarginMs: int(env, ENV.cancelMarginMs, DEFAULTS.cancelMarginMs, 0, 60_000, problems),
    dynamoEndpoint: env[ENV.dynamoEndpoint] || undefined,
    pushShards: int(env, ENV.pushShards, DEFAULTS.pushShards, 1, 64, problems),
    pushTickMs: int(env, ENV.pushTickMs, DEFAULTS.pushTickMs, 100, 3_600_000, problems),
    pushLeadMs: int(env, ENV.pushLeadMs, DEFAULTS.pushLeadMs, 0, 300_000, problems),
    ...overrides,
  };
  if (problems.length > 0) throw invalid(`configuration: ${problems.join("; ")}`);
  return config;
}

/**
 * The idle re-check interval actually used: never so short that one waiting consumer makes more than
 * MAX_IDLE_REQUESTS_PER_SECOND requests (each check reads 2 lanes of every shard it holds, or looks at
 * the lease of a shard held elsewhere).
 */
export function effectivePollIntervalMs(config: Pick<QueueConfig, "pollIntervalMs" | "shards">): number {
  const floor = Math.ceil((2 * config.shards * 1000) / MAX_IDLE_REQUESTS_PER_SECOND);
  return Math.max(config.pollIntervalMs, floor);
}

/** The quick re-read after another process's messages were found: the configured one per two shards (a read is a query per held shard), never above the poll interval; 0 when off. */
export function effectiveStreamRecheckMs(config: Pick<QueueConfig, "pollIntervalMs" | "shards" | "streamRecheckMs">): number {
  if (config.streamRecheckMs === 0) return 0;
  return Math.min(effectivePollIntervalMs(config), config.streamRecheckMs * Math.max(1, Math.ceil(config.shards / 2)));
}
