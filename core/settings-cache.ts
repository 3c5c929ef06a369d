import type { QueueConfig } from "./config.js";
import type { Clock, MessageStore } from "./ports.js";
import { type GroupSettings, type TopicSettings, resolveGroupSettings, resolveTopicSettings } from "./settings.js";

/**
 * How long one process trusts the topic and group settings it read. A PUT through this process takes
 * effect here at once; through another process, within this time.
 */
export const SETTINGS_CACHE_TTL_MS = 5_000;

/** Most topics (and, separately, groups) one process keeps settings of; the oldest read is dropped first. */
export const SETTINGS_CACHE_MAX_ENTRIES = 10_000;

function remember<T>(map: Map<string, T>, key: string, value: T): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > SETTINGS_CACHE_MAX_ENTRIES) map.delete(map.keys().next().value as string);
}

interface Cached<T> {
  readAtMs: number;
  value: T;
}

/** Per-process cache of resolved topic and group settings, timed by the queue's clock, bounded in entries. */
export class SettingsCache {
  private readonly topics = new Map<string, Cached<TopicSettings>>();
  private readonly groups = new Map<string, Cached<GroupSettings>>();

  constructor(
    private readonly store: MessageStore,
    private readonly clock: Clock,
    private readonly config: QueueConfig,
  ) {}

  async topic(topic: string): Promise<TopicSettings> {
    const nowMs = this.clock.nowMs();
    const hit = this.topics.get(topic);
    if (hit && nowMs - hit.readAtMs < SETTINGS_CACHE_TTL_MS) return hit.value;
    const value = resolveTopicSettings(await this.store.getTopicSettings(topic), this.config);
    remember(this.topics, topic, { readAtMs: nowMs, value });
    return value;
  }

  async group(topic: string, group: string): Promise<GroupSettings> {
    const nowMs = this.clock.nowMs();
    const k = `${topic}\n${group}`;
    const hit = this.groups.get(k);
    if (hit && nowMs - hit.readAtMs < SETTINGS_CACHE_TTL_MS) return hit.value;
    const value = resolveGroupSettings(await this.store.getGroupSettings(topic, group));
    remember(this.groups, k, { readAtMs: nowMs, value });
    return value;
  }

  get size(): { topics: number; groups: number } {
    return { topics: this.topics.size, groups: this.groups.size };
  }

  forgetTopic(topic: string): void {
    this.topics.delete(topic);
  }

  forgetGroup(topic: string, group: string): void {
    this.groups.delete(`${topic}\n${group}`);
  }
}
