import { randomBytes } from "node:crypto";
import type { QueueConfig } from "./config.js";
import { ErrorCode, QueueError, invalid } from "./errors.js";
import type { Clock, GroupRecord, QueueStore } from "./ports.js";
import { PUSH_LIMITS, type PushPolicy, PushType, checkPushTarget, newPushSecret } from "./push/target.js";
import { assertIntInRange, assertName, assertTopicKey } from "./rules.js";
import {
  type GroupSettings,
  type GroupSettingsInput,
  type TopicSettings,
  parseGroupSettings,
  parseTopicSettings,
  resolveGroupSettings,
  resolveTopicSettings,
} from "./settings.js";

/**
 * How long one process trusts the topic and group settings it read. A PUT through this process takes
 * effect here at once; through another process, within this time.
 */
export const SETTINGS_CACHE_TTL_MS = 5_000;

/** Most topics (and, separately, groups) one process keeps settings of; the oldest read is dropped first. */
export const SETTINGS_CACHE_MAX_ENTRIES = 10_000;

export const GROUP_PAGE = { defaultLimit: 100, maxLimit: 1000 } as const;
export const TOPIC_PAGE = { defaultLimit: 100, maxLimit: 1000 } as const;

function remember<K, T>(map: Map<K, T>, key: K, value: T): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > SETTINGS_CACHE_MAX_ENTRIES) map.delete(map.keys().next().value as K);
}

interface Cached<T> {
  readAtMs: number;
  value: T;
}

export interface GroupInfo {
  topic: string;
  group: string;
  gen: string;
  startMs: number;
  createdAtMs: number;
  settings: GroupSettings;
  /** A push group's signing secret, answered once: by the PUT that made the group an HTTP push group. */
  newSecret?: string;
}

/** Every target type, any host but metadata and link-local ones: what tests and the in-memory runtime use unless told otherwise. */
export const PERMISSIVE_PUSH_POLICY: PushPolicy = { mode: "local", allowHttp: true, available: async () => true };

function newGen(): string {
  return randomBytes(6).toString("hex");
}

/**
 * Subscriptions: the topic's groups, their settings and incarnations. A group is registered by its first
 * consume or by configuring it; it receives every message due from its registration on (the first group
 * of a topic also receives what was held before it). Deleting a group ends its incarnation: its pending
 * deliveries are gone with it, and a consume after that registers a new one.
 */
export class Groups {
  private readonly topics = new Map<string, Cached<TopicSettings>>();
  private readonly records = new Map<string, Cached<GroupRecord>>();
  private readonly known = new Map<string, true>();

  constructor(
    private readonly store: QueueStore,
    private readonly clock: Clock,
    private readonly config: QueueConfig,
    private readonly pushPolicy: PushPolicy = PERMISSIVE_PUSH_POLICY,
  ) {}

  /** The topic's settings, cached for SETTINGS_CACHE_TTL_MS. */
  async topicSettings(topic: string): Promise<TopicSettings> {
    const nowMs = this.clock.nowMs();
    const hit = this.topics.get(topic);
    if (hit && nowMs - hit.readAtMs < SETTINGS_CACHE_TTL_MS) return hit.value;
    const value = resolveTopicSettings(await this.store.getTopicSettings(topic), this.config);
    remember(this.topics, topic, { readAtMs: nowMs, value });
    return value;
  }

  /** Entries the caches hold (bounded by SETTINGS_CACHE_MAX_ENTRIES each). */
  get size(): { topics: number; groups: number; known: number } {
    return { topics: this.topics.size, groups: this.records.size, known: this.known.size };
  }

  /** Makes the topic listable (once per process). */
  async ensureTopic(topic: string): Promise<void> {
    if (this.known.has(topic)) return;
    await this.store.registerTopic(topic);
    remember(this.known, topic, true);
  }

  /** The group in force, registering it when it is not; cached for SETTINGS_CACHE_TTL_MS. */
  async ensure(topic: string, group: string): Promise<GroupRecord> {
    const nowMs = this.clock.nowMs();
    const k = `${topic}\n${group}`;
    const hit = this.records.get(k);
    if (hit && nowMs - hit.readAtMs < SETTINGS_CACHE_TTL_MS) return hit.value;
    const record = (await this.store.getGroup(topic, group)) ?? (await this.register(topic, group, nowMs));
    remember(this.records, k, { readAtMs: nowMs, value: record });
    return record;
  }

  /** The group if registered (cached), without registering it. */
  async find(topic: string, group: string): Promise<GroupRecord | undefined> {
    const nowMs = this.clock.nowMs();
    const hit = this.records.get(`${topic}\n${group}`);
    if (hit && nowMs - hit.readAtMs < SETTINGS_CACHE_TTL_MS) return hit.value;
    const record = await this.store.getGroup(topic, group);
    if (record) remember(this.records, `${topic}\n${group}`, { readAtMs: nowMs, value: record });
    return record;
  }

  private async register(topic: string, group: string, nowMs: number, settings?: GroupSettingsInput): Promise<GroupRecord> {
    await this.ensureTopic(topic);
    const first = !(await this.store.hasGroups(topic));
    const fresh: GroupRecord = { group, gen: newGen(), startMs: first ? 0 : nowMs, createdAtMs: nowMs, settings: settings ?? {} };
    const record = await this.store.registerGroup(topic, fresh);
    if (settings && record.gen !== fresh.gen) return (await this.store.putGroupSettings(topic, group, settings, nowMs)) ?? record;
    return record;
  }

  async getTopic(topicKey: string): Promise<TopicSettings> {
    const topic = assertTopicKey(topicKey);
    return resolveTopicSettings(await this.store.getTopicSettings(topic), this.config);
  }

  async putTopic(topicKey: string, body: Record<string, unknown>): Promise<TopicSettings> {
    const topic = assertTopicKey(topicKey);
    const input = parseTopicSettings(body);
    await this.ensureTopic(topic);
    await this.store.putTopicSettings(topic, input, this.clock.nowMs());
    this.topics.delete(topic);
    return resolveTopicSettings(input, this.config);
  }

  /** Sets some of a topic's settings, keeping the others as they were set (a door's queue arguments, e.g. AMQP's x-message-ttl). */
  async mergeTopic(topicKey: string, body: Record<string, unknown>): Promise<TopicSettings> {
    const topic = assertTopicKey(topicKey);
    const current = (await this.store.getTopicSettings(topic)) ?? {};
    const input = { ...current, ...parseTopicSettings(body) };
    await this.ensureTopic(topic);
    await this.store.putTopicSettings(topic, input, this.clock.nowMs());
    this.topics.delete(topic);
    return resolveTopicSettings(input, this.config);
  }

  async get(topicKey: string, groupName: string): Promise<GroupInfo> {
    const topic = assertTopicKey(topicKey);
    const group = assertName("group", groupName);
    const record = await this.store.getGroup(topic, group);
    if (!record) throw notFound(topic, group);
    return info(topic, record);
  }

  async put(topicKey: string, groupName: string, body: Record<string, unknown>): Promise<GroupInfo> {
    const topic = assertTopicKey(topicKey);
    const group = assertName("group", groupName);
    const input = parseGroupSettings(body);
    let newSecret: string | undefined;
    if (input.push) {
      await checkPushTarget(input.push.target, this.pushPolicy);
      if (input.push.target.type === PushType.Http) {
        // An HTTP push group keeps its secrets across PUTs; the PUT that makes it one creates them (answered once).
        const kept = (await this.store.getGroup(topic, group))?.settings.push?.secrets;
        if (kept) input.push.secrets = kept;
        else {
          newSecret = newPushSecret();
          input.push.secrets = { current: newSecret, createdAtMs: this.clock.nowMs() };
        }
      }
    }
    const nowMs = this.clock.nowMs();
    const record = (await this.store.putGroupSettings(topic, group, input, nowMs)) ?? (await this.register(topic, group, nowMs, input));
    if (input.push) await this.store.putPushRoute(topic, group);
    else await this.store.deletePushRoute(topic, group);
    remember(this.records, `${topic}\n${group}`, { readAtMs: nowMs, value: record });
    return { ...info(topic, record), ...(newSecret !== undefined && { newSecret }) };
  }

  /**
   * A new signing secret for an HTTP push group, answered once. The replaced one keeps signing beside it
   * for `graceSeconds` (default a day), so receivers can switch without refusing a push.
   */
  async rotateSecret(topicKey: string, groupName: string, body: Record<string, unknown>): Promise<{ topic: string; group: string; secret: string; previousSecretValidUntil: number }> {
    const topic = assertTopicKey(topicKey);
    const group = assertName("group", groupName);
    const unknown = Object.keys(body).filter((k) => k !== "graceSeconds");
    if (unknown.length > 0) throw invalid(`unknown field(s) ${unknown.join(", ")}; the only field is graceSeconds`);
    const graceSeconds =
      body.graceSeconds === undefined || body.graceSeconds === null
        ? PUSH_LIMITS.rotationGraceSecondsDefault
        : assertIntInRange(body.graceSeconds, "graceSeconds", 0, PUSH_LIMITS.rotationGraceSecondsMax);
    const record = await this.store.getGroup(topic, group);
    if (!record) throw notFound(topic, group);
    const push = record.settings.push;
    if (!push || push.target.type !== PushType.Http || !push.secrets) {
      throw invalid(`group ${group} of topic ${topic} is not an HTTP push group: only HTTP pushes are signed`);
    }
    const nowMs = this.clock.nowMs();
    const secret = newPushSecret();
    const previousUntilMs = nowMs + graceSeconds * 1000;
    const settings = { ...record.settings, push: { ...push, secrets: { current: secret, createdAtMs: nowMs, previous: push.secrets.current, previousUntilMs } } };
    const updated = await this.store.putGroupSettings(topic, group, settings, nowMs);
    if (!updated) throw notFound(topic, group);
    remember(this.records, `${topic}\n${group}`, { readAtMs: nowMs, value: updated });
    return { topic, group, secret, previousSecretValidUntil: previousUntilMs };
  }

  async list(topicKey: string, query: { limit?: unknown; cursor?: unknown }): Promise<{ groups: GroupInfo[]; cursor?: string }> {
    const topic = assertTopicKey(topicKey);
    const limit = assertIntInRange(query.limit ?? GROUP_PAGE.defaultLimit, "limit", 1, GROUP_PAGE.maxLimit);
    const cursor = query.cursor;
    if (cursor !== undefined && (typeof cursor !== "string" || cursor.length === 0 || cursor.length > 512)) {
      throw invalid("cursor must be the cursor string of the previous page");
    }
    const page = await this.store.listGroups(topic, limit, cursor);
    return { groups: page.groups.map((r) => info(topic, r)), ...(page.cursor !== undefined && { cursor: page.cursor }) };
  }

  /** The topics of the JSON API (those with a publish or a setting so far), by name; RocketMQ instances' topics are not listed. */
  async listTopics(query: { limit?: unknown; cursor?: unknown }): Promise<{ topics: string[]; cursor?: string }> {
    const limit = assertIntInRange(query.limit ?? TOPIC_PAGE.defaultLimit, "limit", 1, TOPIC_PAGE.maxLimit);
    const cursor = query.cursor;
    if (cursor !== undefined && (typeof cursor !== "string" || cursor.length === 0 || cursor.length > 512)) {
      throw invalid("cursor must be the cursor string of the previous page");
    }
    const page = await this.store.listTopics(limit, cursor);
    return { topics: page.topics.filter((t) => !t.includes("~")), ...(page.cursor !== undefined && { cursor: page.cursor }) };
  }

  /** Unregisters the group: its pending deliveries and dead letters go with this incarnation. */
  async delete(topicKey: string, groupName: string): Promise<{ topic: string; group: string; deleted: true }> {
    const topic = assertTopicKey(topicKey);
    const group = assertName("group", groupName);
    const record = await this.store.getGroup(topic, group);
    if (!record || !(await this.store.deleteGroup(topic, group, record.gen))) throw notFound(topic, group);
    if (record.settings.push) await this.store.deletePushRoute(topic, group);
    this.records.delete(`${topic}\n${group}`);
    return { topic, group, deleted: true };
  }

  /** Forgets a cached group (its incarnation changed). */
  forget(topic: string, group: string): void {
    this.records.delete(`${topic}\n${group}`);
  }
}

function info(topic: string, r: GroupRecord): GroupInfo {
  return { topic, group: r.group, gen: r.gen, startMs: r.startMs, createdAtMs: r.createdAtMs, settings: resolveGroupSettings(r.settings) };
}

function notFound(topic: string, group: string): QueueError {
  return new QueueError(ErrorCode.NotFound, `group ${group} of topic ${topic} does not exist; its first consume or a PUT creates it`);
}
