import { createHash, randomBytes } from "node:crypto";
import { systemClock } from "../clock.js";
import { QueueError } from "../errors.js";
import type { ReceivedMessage } from "../message.js";
import { DeliveryDoor } from "../metrics.js";
import type { Clock, Logger, QueueStore } from "../ports.js";
import type { PublishInput, Queue } from "../queue.js";
import type { DeadLetter } from "../ports.js";
import { LIMITS, NAME_PATTERN, topicKey } from "../rules.js";
import { type BasicProperties, Reply, decodeProperties, encodeProperties } from "./codec.js";
import {
  type DeadLettering,
  DeathReason,
  type LengthLimit,
  Overflow,
  QueueArgumentError,
  closesCycle,
  deadLetteringOf,
  deathHeaders,
  deathReasonOf,
  lengthLimitOf,
} from "./dead-lettering.js";
import { ExchangeType, ROUTING_TYPES, type RoutingType, bindingMatches, expirationMs, publishTiming } from "./routing.js";

/**
 * The AMQP door's broker: the topology a client declares (exchanges, queues, bindings, per vhost) and
 * its mapping onto the queue.
 *
 * | AMQP | the queue |
 * |---|---|
 * | vhost `/` | no namespace; any other vhost `v`: namespace `v` (topics `v~name`, isolated like RocketMQ instances) |
 * | queue `q` | topic `q` (in the vhost's namespace), consumed by the group `amqp` |
 * | exchange, binding | the door's routing table: a publish is routed at publish time and stored once per queue it reaches |
 * | routing key | tag (when it fits a tag) and the property `amqp-routing-key` |
 * | headers, properties | string/number/boolean headers as properties; every property byte-exact in `amqp-properties` |
 * | `message-id` | the message key (findable and cancellable by key over the JSON API) |
 * | delivery tag | a receipt handle of the group `amqp`, held by the channel until ack, nack or close |
 */
export const AMQP_GROUP = "amqp";

/** The property names the door stores besides the publisher's headers. */
export const AmqpProperty = {
  exchange: "amqp-exchange",
  routingKey: "amqp-routing-key",
  properties: "amqp-properties",
  bodyEncoding: "amqp-body-encoding",
} as const;

/** A failure that closes the channel (or, with `connection`, the connection) with a reply code. */
export class AmqpError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly connection = false,
  ) {
    super(message);
  }
}

export interface ExchangeDef {
  name: string;
  /** The declared type (`x-delayed-message` for a delayed exchange). */
  type: string;
  routing: RoutingType;
  delayed: boolean;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  args: Record<string, unknown>;
}

export interface QueueDef {
  name: string;
  topic: string;
  durable: boolean;
  /** The connection that owns an exclusive queue. */
  owner: string | undefined;
  autoDelete: boolean;
  args: Record<string, unknown>;
  consumers: number;
  hadConsumer: boolean;
}

export interface BindingDef {
  /** Its identity: exchange, queue, routing key and arguments. */
  id: string;
  exchange: string;
  /** The destination queue ("" for an exchange-to-exchange binding). */
  queue: string;
  /** The destination exchange of an exchange-to-exchange binding. */
  destinationExchange?: string;
  routingKey: string;
  args: Record<string, unknown>;
}

class Vhost {
  readonly exchanges = new Map<string, ExchangeDef>();
  readonly queues = new Map<string, QueueDef>();
  readonly bindings: BindingDef[] = [];
  /** When the durable topology was last read from the store (0: never). */
  loadedAtMs = 0;
  refreshing: Promise<void> | undefined;

  constructor(
    readonly namespace: string | undefined,
    /** The store scope of its durable topology. */
    readonly scope: string,
  ) {
    const builtin = (name: string, routing: RoutingType) =>
      this.exchanges.set(name, { name, type: routing, routing, delayed: false, durable: true, autoDelete: false, internal: false, args: {} });
    builtin("", "direct");
    builtin("amq.direct", "direct");
    builtin("amq.fanout", "fanout");
    builtin("amq.topic", "topic");
    builtin("amq.headers", "headers");
    builtin("amq.match", "headers");
  }
}

/** A delivery of a queue, as the engine hands it to a consumer. */
export interface AmqpMessage {
  topic: string;
  receiptHandle: string;
  messageId: string;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  /** The publisher's properties section, byte-exact, when it came in over AMQP. */
  rawProperties?: Buffer;
  properties: BasicProperties;
  body: Buffer;
}

export interface PublishOutcome {
  /** Queues the message was routed to. */
  queues: string[];
  /** Of those, the queues at their `x-max-length` with `x-overflow` reject-publish(-dlx): not stored there (a confirm is a nack). */
  rejected: string[];
}

/** A message as it was published or delivered: what a dead-lettered copy is made of. */
interface PublishedMessage {
  exchange: string;
  routingKey: string;
  properties: BasicProperties;
  body: Buffer;
}

/** A queue the broker watches: its dead-lettering and length limit, when it has them. */
interface Watched {
  vhost: Vhost;
  q: QueueDef;
  dl: DeadLettering | undefined;
  limit: LengthLimit | undefined;
}

type DeadLettered = Watched & { dl: DeadLettering };

function deadLettered(w: Watched | undefined): w is DeadLettered {
  return w?.dl !== undefined;
}

/** Bytes of a stored body (UTF-8) at most; binary bodies are stored in base64 within it. */
const BODY_LIMIT = LIMITS.bodyBytes;
/** An ordered take that found nothing while ready messages remain is tried again this often, this long apart. */
const TAKE_READY_ATTEMPTS = 8;
const TAKE_READY_PAUSE_MS = 25;

function sameArgs(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const norm = (x: Record<string, unknown>) => JSON.stringify(Object.keys(x).sort().map((k) => [k, x[k] === undefined ? null : typeof x[k] === "bigint" ? String(x[k]) : x[k]]));
  return norm(a) === norm(b);
}

export class AmqpBroker {
  private readonly vhosts = new Map<string, Vhost>();
  /** Most bytes of one message body (a content header announcing more closes the channel with 406). */
  readonly maxBodyBytes = BODY_LIMIT;

  private readonly store: TopologyStore | undefined;
  private readonly clock: Clock;
  /** Queues with a dead-letter exchange or a length limit, by topic. */
  private readonly watched = new Map<string, Watched>();
  /** A forwarding run per topic, and whether another was asked for while it ran. */
  private readonly forwarding = new Map<string, { again: boolean }>();
  /** A drop-head trimming run per topic, and whether another was asked for while it ran. */
  private readonly trimming = new Map<string, { again: boolean }>();
  /** Expiry looks armed per topic and 100 ms slot. */
  private readonly expiries = new Map<string, ReturnType<typeof setTimeout>>();
  private forwardTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(
    readonly queue: Queue,
    private readonly log: Logger,
    options: { store?: TopologyStore; clock?: Clock } = {},
  ) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * The vhost's topology, its durable part read from the store the first time (and again every
   * TOPOLOGY_REFRESH_MS as publishes use it, so what other door processes declare or delete arrives).
   * A vhost that names no valid namespace is refused (530 at connection.open).
   */
  async openVhost(name: string): Promise<Vhost> {
    const v = this.vhost(name);
    if (this.store && v.loadedAtMs === 0) {
      v.refreshing ??= this.load(v).finally(() => {
        v.refreshing = undefined;
      });
      await v.refreshing;
    }
    return v;
  }

  private vhost(name: string): Vhost {
    let namespace: string | undefined;
    if (name === "/" || name === "") namespace = undefined;
    else {
      const trimmed = name.startsWith("/") ? name.slice(1) : name;
      if (!NAME_PATTERN.test(trimmed)) {
        throw new AmqpError(Reply.NotAllowed, `vhost ${JSON.stringify(name)} not found: a vhost is "/" or a namespace name of 1-64 letters, digits, '_', '.', '-'`, true);
      }
      namespace = trimmed;
    }
    const key = namespace ?? "/";
    let v = this.vhosts.get(key);
    if (!v) {
      v = new Vhost(namespace, `amqp:${key}`);
      this.vhosts.set(key, v);
    }
    return v;
  }

  /** Reads the vhost's durable topology and makes the local copy match it (local transient entities stay). */
  private async load(v: Vhost): Promise<void> {
    const entries = await (this.store as TopologyStore).listTopology(v.scope);
    const exchanges = new Map<string, ExchangeDef>();
    const queues = new Map<string, Omit<QueueDef, "consumers" | "hadConsumer" | "owner" | "topic">>();
    const bindings = new Map<string, BindingDef>();
    for (const e of entries) {
      try {
        const spec = decodeSpec(e.spec) as Record<string, unknown>;
        if (e.id.startsWith("e:")) exchanges.set(String(spec.name), spec as unknown as ExchangeDef);
        else if (e.id.startsWith("q:")) queues.set(String(spec.name), spec as unknown as QueueDef);
        else if (e.id.startsWith("b:")) bindings.set(e.id, { ...(spec as unknown as BindingDef), id: e.id });
      } catch (error) {
        this.log.warn("amqp-topology-unreadable", { scope: v.scope, id: e.id, error: String(error) });
      }
    }
    for (const [name, def] of [...v.exchanges]) if (def.durable && !isBuiltin(name) && !exchanges.has(name)) v.exchanges.delete(name);
    for (const [name, def] of exchanges) v.exchanges.set(name, def);
    for (const [name, q] of [...v.queues]) if (persisted(q) && !queues.has(name)) v.queues.delete(name);
    for (const [name, spec] of queues) {
      const local = v.queues.get(name);
      if (local && persisted(local)) continue;
      if (local) continue; // a local exclusive or transient queue of the same name wins in this process
      const def: QueueDef = { ...spec, topic: this.topicOf(v, name), owner: undefined, consumers: 0, hadConsumer: false };
      v.queues.set(name, def);
      this.watch(v, def);
    }
    for (let i = v.bindings.length - 1; i >= 0; i--) {
      const b = v.bindings[i] as BindingDef;
      if (this.durableBinding(v, b) && !bindings.has(b.id)) v.bindings.splice(i, 1);
    }
    for (const [id, b] of bindings) if (!v.bindings.some((x) => x.id === id)) v.bindings.push(b);
    v.loadedAtMs = this.clock.nowMs();
  }

  /** Reads the durable topology again now (joining a read under way). */
  async reload(v: Vhost): Promise<void> {
    if (!this.store) return;
    v.refreshing ??= this.load(v).finally(() => {
      v.refreshing = undefined;
    });
    await v.refreshing;
  }

  /** The queue, reading the topology again when this process does not know it (another process may have declared it). */
  async locateQueue(vhost: Vhost, name: string, connection: string): Promise<QueueDef> {
    if (this.store && !vhost.queues.has(name)) await this.reload(vhost);
    return this.findQueue(vhost, name, connection);
  }

  /** Reads the durable topology again in the background once it is TOPOLOGY_REFRESH_MS old. */
  private maybeRefresh(v: Vhost): void {
    if (!this.store || v.refreshing || this.clock.nowMs() - v.loadedAtMs < TOPOLOGY_REFRESH_MS) return;
    v.refreshing = this.load(v)
      .catch((error: unknown) => this.log.warn("amqp-topology-refresh-failed", { scope: v.scope, error: String(error) }))
      .finally(() => {
        v.refreshing = undefined;
      });
  }

  private durableBinding(v: Vhost, b: { exchange: string; queue: string; destinationExchange?: string }): boolean {
    const e = v.exchanges.get(b.exchange);
    if (b.destinationExchange !== undefined) return e !== undefined && e.durable && v.exchanges.get(b.destinationExchange)?.durable === true;
    const q = v.queues.get(b.queue);
    return e !== undefined && e.durable && q !== undefined && persisted(q);
  }

  private async persist(v: Vhost, id: string, spec: unknown): Promise<void> {
    await this.store?.putTopology(v.scope, id, encodeSpec(spec));
  }

  private async unpersist(v: Vhost, id: string): Promise<void> {
    await this.store?.deleteTopology(v.scope, id);
  }

  topicOf(vhost: Vhost, queueName: string): string {
    return topicKey(queueName, vhost.namespace);
  }

  async declareExchange(
    vhost: Vhost,
    f: { exchange: string; type: string; passive: boolean; durable: boolean; autoDelete: boolean; internal: boolean; arguments: Record<string, unknown> },
  ): Promise<void> {
    if (this.store && !vhost.exchanges.has(f.exchange)) await this.reload(vhost);
    const existing = vhost.exchanges.get(f.exchange);
    if (f.passive) {
      if (!existing) throw new AmqpError(Reply.NotFound, `NOT_FOUND - no exchange '${f.exchange}' in vhost`);
      return;
    }
    if (f.exchange === "" || (f.exchange.startsWith("amq.") && !existing)) {
      throw new AmqpError(Reply.AccessRefused, `ACCESS_REFUSED - exchange name '${f.exchange}' contains reserved prefix 'amq.'`);
    }
    const args = f.arguments ?? {};
    let routing: RoutingType;
    const delayed = f.type === ExchangeType.Delayed;
    if (delayed) {
      const inner = args["x-delayed-type"];
      if (typeof inner !== "string" || !ROUTING_TYPES.includes(inner)) {
        throw new AmqpError(Reply.PreconditionFailed, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing exchange type: direct, fanout, topic or headers");
      }
      routing = inner as RoutingType;
    } else if (ROUTING_TYPES.includes(f.type)) routing = f.type as RoutingType;
    else throw new AmqpError(Reply.CommandInvalid, `COMMAND_INVALID - unknown exchange type '${f.type}'`, true);
    if (existing) {
      if (existing.type !== f.type || existing.durable !== f.durable || existing.autoDelete !== f.autoDelete || existing.internal !== f.internal || !sameArgs(existing.args, args)) {
        throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - inequivalent arg for exchange '${f.exchange}': declared ${existing.type} durable=${existing.durable} auto_delete=${existing.autoDelete}`);
      }
      return;
    }
    const def: ExchangeDef = { name: f.exchange, type: f.type, routing, delayed, durable: f.durable, autoDelete: f.autoDelete, internal: f.internal, args };
    vhost.exchanges.set(f.exchange, def);
    if (def.durable) {
      try {
        await this.persist(vhost, `e:${def.name}`, def);
      } catch (error) {
        if (vhost.exchanges.get(def.name) === def) vhost.exchanges.delete(def.name);
        throw error;
      }
    }
  }

  async deleteExchange(vhost: Vhost, name: string, ifUnused: boolean): Promise<void> {
    if (name === "" || name.startsWith("amq.")) throw new AmqpError(Reply.AccessRefused, `ACCESS_REFUSED - operation not permitted on exchange '${name}'`);
    const def = vhost.exchanges.get(name);
    if (!def) return;
    if (ifUnused && vhost.bindings.some((b) => b.exchange === name)) throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - exchange '${name}' in use`);
    const touches = (b: BindingDef) => b.exchange === name || b.destinationExchange === name;
    if (ifUnused && vhost.bindings.some((b) => b.destinationExchange === name)) throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - exchange '${name}' in use`);
    const gone = vhost.bindings.filter((b) => touches(b) && this.durableBinding(vhost, b));
    vhost.exchanges.delete(name);
    for (let i = vhost.bindings.length - 1; i >= 0; i--) if (touches(vhost.bindings[i] as BindingDef)) vhost.bindings.splice(i, 1);
    await Promise.all(gone.map((b) => this.unpersist(vhost, b.id)));
    if (def.durable) await this.unpersist(vhost, `e:${name}`);
  }

  async declareQueue(
    vhost: Vhost,
    connection: string,
    f: { queue: string; passive: boolean; durable: boolean; exclusive: boolean; autoDelete: boolean; arguments: Record<string, unknown> },
  ): Promise<QueueDef> {
    let name = f.queue;
    if (name === "") {
      if (f.passive) throw new AmqpError(Reply.NotFound, "NOT_FOUND - no queue '' in vhost");
      name = `amq.gen-${randomBytes(16).toString("base64url")}`;
    }
    if (this.store && f.queue !== "" && !vhost.queues.has(name)) await this.reload(vhost);
    const existing = vhost.queues.get(name);
    if (existing?.owner !== undefined && existing.owner !== connection) {
      throw new AmqpError(Reply.ResourceLocked, `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${name}'`);
    }
    if (f.passive) {
      if (!existing) throw new AmqpError(Reply.NotFound, `NOT_FOUND - no queue '${name}' in vhost`);
      return existing;
    }
    if (name.startsWith("amq.") && !name.startsWith("amq.gen-")) {
      throw new AmqpError(Reply.AccessRefused, `ACCESS_REFUSED - queue name '${name}' contains reserved prefix 'amq.'`);
    }
    if (!NAME_PATTERN.test(name)) {
      throw new AmqpError(
        Reply.PreconditionFailed,
        `PRECONDITION_FAILED - queue name '${name.slice(0, 80)}' is not a topic name: use 1-64 letters, digits, '_', '.', '-' (each queue is a topic of the same name)`,
      );
    }
    const args = f.arguments ?? {};
    if (existing) {
      if (existing.durable !== f.durable || existing.autoDelete !== f.autoDelete || (existing.owner !== undefined) !== f.exclusive || !sameArgs(existing.args, args)) {
        throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - inequivalent arg for queue '${name}': declared durable=${existing.durable} exclusive=${existing.owner !== undefined} auto_delete=${existing.autoDelete}`);
      }
      return existing;
    }
    const topic = this.topicOf(vhost, name);
    const ttl = args["x-message-ttl"];
    if (ttl !== undefined && (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl < 0)) {
      throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue '${name}': ${JSON.stringify(ttl)} is not a non-negative integer`);
    }
    try {
      deadLetteringOf(name, args);
      lengthLimitOf(name, args);
    } catch (error) {
      if (error instanceof QueueArgumentError) throw new AmqpError(error.code, error.message);
      throw error;
    }
    const applied = new Set(["x-message-ttl", "x-queue-type", "x-delayed-type", "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-max-length", "x-overflow"]);
    const ignored = Object.keys(args).filter((k) => !applied.has(k));
    if (ignored.length > 0) this.log.warn("amqp-queue-arguments-not-applied", { queue: name, arguments: ignored });
    // x-message-ttl is the queue's topic TTL, counted after the delay (the lower of it and a message's expiration wins).
    if (typeof ttl === "number") await this.queue.groups.mergeTopic(topic, { messageTtlMs: Math.max(1, ttl) });
    // The queue's group is registered now, so it receives every message published from its declaration on.
    await this.queue.groups.ensure(topic, AMQP_GROUP);
    const def: QueueDef = { name, topic, durable: f.durable, owner: f.exclusive ? connection : undefined, autoDelete: f.autoDelete, args, consumers: 0, hadConsumer: false };
    vhost.queues.set(name, def);
    this.watch(vhost, def);
    if (persisted(def)) {
      try {
        await this.persist(vhost, `q:${name}`, { name, durable: def.durable, autoDelete: def.autoDelete, args });
      } catch (error) {
        if (vhost.queues.get(name) === def) vhost.queues.delete(name);
        throw error;
      }
    }
    return def;
  }

  findQueue(vhost: Vhost, name: string, connection: string): QueueDef {
    const q = vhost.queues.get(name);
    if (!q) throw new AmqpError(Reply.NotFound, `NOT_FOUND - no queue '${name}' in vhost`);
    if (q.owner !== undefined && q.owner !== connection) throw new AmqpError(Reply.ResourceLocked, `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${name}'`);
    return q;
  }

  async bindQueue(vhost: Vhost, connection: string, f: { queue: string; exchange: string; routingKey: string; arguments: Record<string, unknown> }): Promise<void> {
    if (this.store && !vhost.exchanges.has(f.exchange)) await this.reload(vhost);
    const q = await this.locateQueue(vhost, f.queue, connection);
    if (f.exchange === "") throw new AmqpError(Reply.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange");
    if (!vhost.exchanges.has(f.exchange)) throw new AmqpError(Reply.NotFound, `NOT_FOUND - no exchange '${f.exchange}' in vhost`);
    const args = f.arguments ?? {};
    const id = bindingId(f.exchange, q.name, f.routingKey, args);
    if (vhost.bindings.some((b) => b.id === id)) return;
    const b: BindingDef = { id, exchange: f.exchange, queue: q.name, routingKey: f.routingKey, args };
    vhost.bindings.push(b);
    if (this.durableBinding(vhost, b)) {
      try {
        await this.persist(vhost, id, { exchange: b.exchange, queue: b.queue, routingKey: b.routingKey, args });
      } catch (error) {
        const i = vhost.bindings.indexOf(b);
        if (i >= 0) vhost.bindings.splice(i, 1);
        throw error;
      }
    }
  }

  /** exchange.bind: messages the source routes by this binding go on through the destination exchange. */
  async bindExchange(vhost: Vhost, f: { destination: string; source: string; routingKey: string; arguments: Record<string, unknown> }): Promise<void> {
    if (this.store && (!vhost.exchanges.has(f.source) || !vhost.exchanges.has(f.destination))) await this.reload(vhost);
    if (f.source === "" || f.destination === "") throw new AmqpError(Reply.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange");
    for (const n of [f.source, f.destination]) if (!vhost.exchanges.has(n)) throw new AmqpError(Reply.NotFound, `NOT_FOUND - no exchange '${n}' in vhost`);
    const args = f.arguments ?? {};
    const id = bindingId(f.source, `>${f.destination}`, f.routingKey, args);
    if (vhost.bindings.some((b) => b.id === id)) return;
    const b: BindingDef = { id, exchange: f.source, queue: "", destinationExchange: f.destination, routingKey: f.routingKey, args };
    vhost.bindings.push(b);
    if (this.durableBinding(vhost, b)) {
      try {
        await this.persist(vhost, id, { exchange: b.exchange, queue: "", destinationExchange: b.destinationExchange, routingKey: b.routingKey, args });
      } catch (error) {
        const i = vhost.bindings.indexOf(b);
        if (i >= 0) vhost.bindings.splice(i, 1);
        throw error;
      }
    }
  }

  async unbindExchange(vhost: Vhost, f: { destination: string; source: string; routingKey: string; arguments: Record<string, unknown> }): Promise<void> {
    if (f.source === "" || f.destination === "") throw new AmqpError(Reply.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange");
    const id = bindingId(f.source, `>${f.destination}`, f.routingKey, f.arguments ?? {});
    const i = vhost.bindings.findIndex((b) => b.id === id);
    if (i < 0) return;
    const durable = this.durableBinding(vhost, vhost.bindings[i] as BindingDef);
    vhost.bindings.splice(i, 1);
    if (durable) await this.unpersist(vhost, id);
  }

  /**
   * queue.purge: the queue's ready messages (due, not held by a consumer) taken and acked; held ones
   * stay, as RabbitMQ leaves unacked messages. Messages still delayed are not in the queue yet (the
   * plugin keeps them in the exchange) and stay too. Returns how many were purged.
   */
  async purge(q: QueueDef): Promise<number> {
    let purged = 0;
    for (;;) {
      const got = await this.takeReady(q.topic, 16, 1);
      if (got.length === 0) return purged;
      const { acked } = await this.queue.ack({ topic: q.topic, group: AMQP_GROUP, receiptHandles: got.map((m) => m.receiptHandle) });
      purged += acked;
    }
  }

  async unbindQueue(vhost: Vhost, connection: string, f: { queue: string; exchange: string; routingKey: string; arguments: Record<string, unknown> }): Promise<void> {
    const q = this.findQueue(vhost, f.queue, connection);
    if (f.exchange === "") throw new AmqpError(Reply.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange");
    const id = bindingId(f.exchange, q.name, f.routingKey, f.arguments ?? {});
    const i = vhost.bindings.findIndex((b) => b.id === id);
    if (i < 0) return;
    const durable = this.durableBinding(vhost, vhost.bindings[i] as BindingDef);
    vhost.bindings.splice(i, 1);
    if (durable) await this.unpersist(vhost, id);
  }

  /** Takes the queue out of the topology and ends its group (its pending deliveries and dead letters go with it). */
  async deleteQueue(vhost: Vhost, connection: string, f: { queue: string; ifUnused: boolean; ifEmpty: boolean }): Promise<void> {
    const q = vhost.queues.get(f.queue);
    if (!q) return;
    this.findQueue(vhost, f.queue, connection);
    if (f.ifUnused && q.consumers > 0) throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - queue '${q.name}' in use`);
    await this.dropQueue(vhost, q);
  }

  private async dropQueue(vhost: Vhost, q: QueueDef): Promise<void> {
    const gone = vhost.bindings.filter((b) => b.queue === q.name && this.durableBinding(vhost, b));
    vhost.queues.delete(q.name);
    if (this.watched.get(q.topic)?.q === q) this.watched.delete(q.topic);
    for (let i = vhost.bindings.length - 1; i >= 0; i--) if ((vhost.bindings[i] as BindingDef).queue === q.name) vhost.bindings.splice(i, 1);
    await Promise.all(gone.map((b) => this.unpersist(vhost, b.id)));
    if (persisted(q)) await this.unpersist(vhost, `q:${q.name}`);
    await this.queue.deleteGroup(q.topic, AMQP_GROUP).catch((error: unknown) => {
      if (!(error instanceof QueueError)) throw error;
    });
  }

  /** A consumer of the queue started or stopped; an auto-delete queue goes with its last consumer. */
  async consumerCount(vhost: Vhost, q: QueueDef, delta: 1 | -1): Promise<void> {
    q.consumers += delta;
    if (delta > 0) q.hadConsumer = true;
    if (q.consumers <= 0 && q.autoDelete && q.hadConsumer && vhost.queues.get(q.name) === q) await this.dropQueue(vhost, q);
  }

  /** A connection ended: its exclusive queues go with it. */
  async connectionClosed(vhost: Vhost, connection: string): Promise<void> {
    for (const q of [...vhost.queues.values()]) if (q.owner === connection) await this.dropQueue(vhost, q);
  }

  /**
   * The queues a publish reaches, by the exchange's bindings and on through exchange-to-exchange
   * bindings (evaluated now; each queue once, each exchange once). `delayed` names the queues reached
   * through an `x-delayed-message` exchange, whose copies take the `x-delay` header.
   */
  route(vhost: Vhost, exchange: string, routingKey: string, headers: Record<string, unknown> | undefined): { def: ExchangeDef; queues: QueueDef[]; delayed: Set<string> } {
    this.maybeRefresh(vhost);
    const def = vhost.exchanges.get(exchange);
    if (!def) throw new AmqpError(Reply.NotFound, `NOT_FOUND - no exchange '${exchange}' in vhost`);
    if (exchange === "") {
      const q = vhost.queues.get(routingKey);
      return { def, queues: q ? [q] : [], delayed: new Set() };
    }
    const reached = new Map<string, boolean>();
    const seen = new Set([exchange]);
    const frontier: { x: ExchangeDef; delayed: boolean }[] = [{ x: def, delayed: def.delayed }];
    for (let next = frontier.shift(); next; next = frontier.shift()) {
      const { x, delayed } = next;
      for (const b of vhost.bindings) {
        if (b.exchange !== x.name || !bindingMatches(x.routing, b, routingKey, headers)) continue;
        if (b.destinationExchange === undefined) {
          if (!reached.has(b.queue)) reached.set(b.queue, delayed);
          continue;
        }
        const dest = vhost.exchanges.get(b.destinationExchange);
        if (!dest || seen.has(dest.name)) continue;
        seen.add(dest.name);
        frontier.push({ x: dest, delayed: delayed || dest.delayed });
      }
    }
    const queues = [...reached.keys()].map((n) => vhost.queues.get(n)).filter((q): q is QueueDef => q !== undefined);
    return { def, queues, delayed: new Set([...reached].filter(([, d]) => d).map(([n]) => n)) };
  }

  /**
   * Stores a publish once for every queue it reaches, with its deliver time from `delay` / `x-delay`.
   * Resolves once every copy is stored (so a confirm is honest); throws AmqpError for a message the queue
   * cannot take, and the store's error when it failed.
   */
  publish(vhost: Vhost, m: { exchange: string; routingKey: string; properties: BasicProperties; rawProperties: Buffer; body: Buffer }): Promise<PublishOutcome> {
    // An exchange this process does not know may have been declared by another one: read the topology again first.
    if (this.store && !vhost.exchanges.has(m.exchange)) return this.reload(vhost).then(() => this.routeAndStore(vhost, m));
    return this.routeAndStore(vhost, m);
  }

  private routeAndStore(vhost: Vhost, m: { exchange: string; routingKey: string; properties: BasicProperties; rawProperties: Buffer; body: Buffer }): Promise<PublishOutcome> {
    // Routing and validation now (their errors close the channel before any later method runs); storing after.
    const { def, queues, delayed } = this.route(vhost, m.exchange, m.routingKey, m.properties.headers);
    if (def.internal) throw new AmqpError(Reply.AccessRefused, `ACCESS_REFUSED - cannot publish to internal exchange '${m.exchange}'`);
    if (queues.length === 0) return Promise.resolve({ queues: [], rejected: [] });
    const input = this.publishInput(m);
    return this.storeRouted(queues, delayed, input, m, true);
  }

  /**
   * Copies reached through a delayed exchange take its `x-delay`; the others the `delay` header or none.
   * A queue at its `x-max-length` with `x-overflow` reject-publish(-dlx) is left out (and, for -dlx, the
   * message dead-lettered from it); `deadLetterable` is false for copies that are themselves dead letters,
   * which RabbitMQ does not dead-letter again when a full queue refuses them.
   */
  private async storeRouted(
    queues: QueueDef[],
    delayed: Set<string>,
    input: Omit<PublishInput, "topic" | "timing">,
    m: PublishedMessage,
    deadLetterable: boolean,
  ): Promise<PublishOutcome> {
    const rejected = new Set<string>();
    await Promise.all(
      queues.map(async (q) => {
        const w = this.watched.get(q.topic);
        const limit = w?.q === q ? w.limit : undefined;
        if (!limit || limit.overflow === Overflow.DropHead) return;
        if ((await this.queue.lifecycle.readyCount(q.topic, AMQP_GROUP, limit.max)) < limit.max) return;
        rejected.add(q.name);
        if (deadLetterable && limit.overflow === Overflow.RejectPublishDlx && deadLettered(w)) {
          await this.deadLetterCopy(w, m, DeathReason.MaxLength, Math.floor(this.clock.nowMs() / 1000));
        }
      }),
    );
    const stored = queues.filter((q) => !rejected.has(q.name));
    const later = stored.filter((q) => delayed.has(q.name));
    const now = stored.filter((q) => !delayed.has(q.name));
    const headers = m.properties.headers;
    const expiration = deadLetterable ? m.properties.expiration : undefined;
    if (later.length > 0) await this.storeCopies(later, input, publishTiming(true, headers), expiration);
    if (now.length > 0) await this.storeCopies(now, input, publishTiming(false, headers), expiration);
    return { queues: queues.map((q) => q.name), rejected: [...rejected] };
  }

  /**
   * Stores one copy per queue (in batches of 16); arms an expiry look for queues that dead-letter what
   * expires, and a trim for drop-head queues when the copy enters them (now, or at its deliver time).
   */
  private async storeCopies(queues: QueueDef[], input: Omit<PublishInput, "topic" | "timing">, timing: PublishInput["timing"], expiration: string | undefined): Promise<void> {
    const outcomes = [];
    for (let i = 0; i < queues.length; i += 16) {
      const batch = queues.slice(i, i + 16).map((q) => ({ ...input, timing, topic: q.topic }));
      outcomes.push(...(await this.queue.publishBatch(batch)));
    }
    outcomes.forEach((o, i) => {
      if (!o.ok) throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - ${o.error.message}`);
      const q = queues[i] as QueueDef;
      const w = this.watched.get(q.topic);
      if (!w || w.q !== q) return;
      if (w.limit?.overflow === Overflow.DropHead) {
        if (o.result.deliverAtMs <= this.clock.nowMs()) this.trim(q.topic);
        else this.armLook(q.topic, o.result.deliverAtMs);
      }
      if (!w.dl) return;
      const ttls = [q.args["x-message-ttl"], input.ttlMs].filter((t): t is number => typeof t === "number");
      if (expiration !== undefined || ttls.length > 0) this.armLook(q.topic, o.result.deliverAtMs + Math.max(1, Math.min(...ttls)));
    });
  }

  /** Remembers a queue that has a dead-letter exchange or a length limit, and looks at it now and then. */
  private watch(vhost: Vhost, q: QueueDef): void {
    let dl: DeadLettering | undefined;
    let limit: LengthLimit | undefined;
    try {
      dl = deadLetteringOf(q.name, q.args);
      limit = lengthLimitOf(q.name, q.args);
    } catch {
      return;
    }
    if ((!dl && !limit) || this.closed) return;
    this.watched.set(q.topic, { vhost, q, dl, limit });
    this.forwardTimer ??= setInterval(() => {
      for (const [topic, w] of this.watched) {
        if (w.dl) this.forward(topic);
        if (w.limit?.overflow === Overflow.DropHead) this.trim(topic);
      }
    }, DEAD_LETTER_LOOK_MS);
    this.forwardTimer.unref?.();
    if (dl) this.forward(q.topic);
    if (limit?.overflow === Overflow.DropHead) this.trim(q.topic);
  }

  /**
   * At a message's expiry or its entry into a drop-head queue: the group looked at now (so what expired
   * becomes a dead letter), then the queue trimmed to its limit and its dead letters forwarded.
   */
  private armLook(topic: string, atMs: number): void {
    const slot = Math.ceil(atMs / EXPIRY_SLOT_MS) * EXPIRY_SLOT_MS;
    const key = `${topic}\n${slot}`;
    if (this.expiries.has(key) || this.closed) return;
    const timer = setTimeout(() => {
      this.expiries.delete(key);
      const w = this.watched.get(topic);
      if (!w) return;
      this.queue
        .sweepGroup(topic, AMQP_GROUP)
        .then(() => {
          if (w.limit?.overflow === Overflow.DropHead) this.trim(topic);
          if (w.dl) this.forward(topic);
        })
        .catch((error: unknown) => this.log.warn("amqp-expiry-look-failed", { topic, error: String(error) }));
    }, Math.max(0, slot - this.clock.nowMs()) + 5);
    timer.unref?.();
    this.expiries.set(key, timer);
  }

  /** Drops (or dead-letters) the oldest ready messages of a drop-head queue beyond its `x-max-length` (one run per topic at a time). */
  trim(topic: string): void {
    this.runOnce(this.trimming, topic, () => this.trimAll(topic), "amqp-max-length-trim-failed");
  }

  private runOnce(runs: Map<string, { again: boolean }>, topic: string, work: () => Promise<void>, failure: string): void {
    const running = runs.get(topic);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false };
    runs.set(topic, state);
    void work()
      .catch((error: unknown) => this.log.warn(failure, { topic, error: String(error) }))
      .finally(() => {
        runs.delete(topic);
        if (state.again && !this.closed) this.runOnce(runs, topic, work, failure);
      });
  }

  /**
   * The oldest ready messages of a queue, up to `max`, claimed in due order across its shards (an ordered
   * poll). A look that could not cover every shard (a lease being renewed, or held by another process)
   * gives nothing: while the queue still counts at least `atLeast` ready messages it is asked again, a few
   * times, shortly after; then without the order (the bound matters more than which message goes).
   */
  private async takeReady(topic: string, max: number, atLeast: number): Promise<Awaited<ReturnType<Queue["consume"]>>> {
    const take = (ordered: boolean) => this.queue.consume({ topic, group: AMQP_GROUP, max, waitSeconds: 0, visibilitySeconds: 60, ordered });
    for (let attempt = 0; attempt < TAKE_READY_ATTEMPTS; attempt++) {
      const got = await take(true);
      if (got.length > 0 || this.closed) return got;
      if ((await this.queue.lifecycle.readyCount(topic, AMQP_GROUP, atLeast)) < atLeast) return got;
      await new Promise((resolve) => setTimeout(resolve, TAKE_READY_PAUSE_MS));
    }
    this.log.warn("amqp-ordered-take-gave-up", { topic, attempts: TAKE_READY_ATTEMPTS });
    return take(false);
  }

  private async trimAll(topic: string): Promise<void> {
    for (let round = 0; round < 64; round++) {
      const w = this.watched.get(topic);
      if (!w?.limit || this.closed) return;
      const excess = (await this.queue.lifecycle.readyCount(topic, AMQP_GROUP, w.limit.max + 16)) - w.limit.max;
      if (excess <= 0) return;
      const got = await this.takeReady(topic, Math.min(16, excess), w.limit.max + 1);
      if (got.length === 0) return;
      const timeSec = Math.floor(this.clock.nowMs() / 1000);
      if (deadLettered(w)) for (const m of got) await this.deadLetterCopy(w, toAmqpMessage(w.q, m, this.log), DeathReason.MaxLength, timeSec);
      await this.queue.ack({ topic, group: AMQP_GROUP, receiptHandles: got.map((m) => m.receiptHandle) });
      this.log.info("amqp-max-length-dropped", { queue: w.q.name, topic, dropped: got.length, deadLettered: w.dl !== undefined });
    }
  }

  /** Republishes the queue's dead letters to its dead-letter exchange (one run per topic at a time). */
  forward(topic: string): void {
    this.runOnce(this.forwarding, topic, () => this.forwardAll(topic), "amqp-dead-letter-forward-failed");
  }

  private async forwardAll(topic: string): Promise<void> {
    for (let round = 0; round < 64; round++) {
      const entry = this.watched.get(topic);
      if (!deadLettered(entry) || this.closed) return;
      const page = await this.queue.retry.listDeadLetters({ topic, group: AMQP_GROUP, limit: 16 });
      let moved = 0;
      for (const d of page.deadLetters) if (await this.forwardOne(entry, d)) moved++;
      if (moved === 0 || page.cursor === undefined) return;
    }
  }

  /**
   * One dead letter to the dead-letter exchange, with its death in `x-death`, its per-message expiration
   * removed (RabbitMQ's rule: it must not expire again where it lands), then taken out of the dead letters.
   * A failure between the two leaves it a dead letter, forwarded again later (at least once).
   */
  private async forwardOne(entry: DeadLettered, d: DeadLetter): Promise<boolean> {
    const { q } = entry;
    const discard = () => this.queue.retry.discardDeadLetter({ topic: q.topic, group: AMQP_GROUP, messageId: d.messageId });
    let content: Awaited<ReturnType<Queue["lifecycle"]["get"]>>["record"]["message"]["content"];
    try {
      content = (await this.queue.lifecycle.get(q.topic, d.messageId)).record.message.content;
    } catch (error) {
      if (error instanceof QueueError) return discard();
      throw error;
    }
    const m = toAmqpMessage(q, { ...content, group: AMQP_GROUP, receiptHandle: "", consumedTimes: d.consumedTimes, firstConsumedAtMs: 0, nextVisibleAtMs: 0 }, this.log);
    await this.deadLetterCopy(entry, m, deathReasonOf(d.reason), Math.floor(d.failedAtMs / 1000), d.messageId);
    return discard();
  }

  /**
   * A message that died in the queue republished to its dead-letter exchange, with its death in `x-death`
   * and its per-message expiration removed (RabbitMQ's rule: it must not expire again where it lands).
   * A missing exchange drops it (logged), as RabbitMQ does.
   */
  private async deadLetterCopy(entry: DeadLettered, m: PublishedMessage, reason: DeathReason, timeSec: number, messageId?: string): Promise<void> {
    const { vhost, q, dl } = entry;
    const { expiration, ...kept } = m.properties;
    const headers = deathHeaders(kept.headers, {
      queue: q.name,
      reason,
      exchange: m.exchange,
      routingKeys: [m.routingKey],
      timeSec,
      ...(expiration !== undefined && { originalExpiration: expiration }),
    });
    const properties: BasicProperties = { ...kept, headers };
    const routingKey = dl.routingKey ?? m.routingKey;
    let routed: ReturnType<AmqpBroker["route"]>;
    try {
      routed = this.route(vhost, dl.exchange, routingKey, headers);
    } catch (error) {
      if (!(error instanceof AmqpError)) throw error;
      this.log.warn("amqp-dead-letter-exchange-missing", { queue: q.name, exchange: dl.exchange, ...(messageId !== undefined && { messageId }) });
      return;
    }
    const targets = routed.queues.filter((t) => !closesCycle(headers, t.name));
    if (targets.length === 0) return;
    const copy = { exchange: dl.exchange, routingKey, properties, rawProperties: encodeProperties(properties), body: m.body };
    await this.storeRouted(targets, routed.delayed, this.publishInput(copy), copy, false);
  }

  /** Stops the dead-letter looks and expiry timers. */
  close(): void {
    this.closed = true;
    if (this.forwardTimer) clearInterval(this.forwardTimer);
    for (const t of this.expiries.values()) clearTimeout(t);
    this.expiries.clear();
  }

  /** Whether the queue is still the one of its name in the vhost (not deleted). */
  vhostHasQueue(vhost: Vhost, q: QueueDef): boolean {
    return vhost.queues.get(q.name) === q;
  }

  private publishInput(m: { exchange: string; routingKey: string; properties: BasicProperties; rawProperties: Buffer; body: Buffer }): Omit<PublishInput, "topic" | "timing"> {
    const text = m.body.toString("utf8");
    const utf8 = Buffer.byteLength(text) === m.body.length && Buffer.from(text, "utf8").equals(m.body);
    const body = utf8 ? text : m.body.toString("base64");
    if (Buffer.byteLength(body) > BODY_LIMIT) {
      throw new AmqpError(
        Reply.PreconditionFailed,
        `PRECONDITION_FAILED - message size ${m.body.length} is larger than configured max size ${utf8 ? BODY_LIMIT : Math.floor((BODY_LIMIT * 3) / 4)}`,
      );
    }
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.properties.headers ?? {})) {
      if (k === "" || k === "__proto__" || k.startsWith("amqp-")) continue;
      if (typeof v === "string") properties[k] = v;
      else if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") properties[k] = String(v);
    }
    properties[AmqpProperty.exchange] = m.exchange;
    properties[AmqpProperty.routingKey] = m.routingKey;
    if (m.rawProperties.length > 2) properties[AmqpProperty.properties] = m.rawProperties.toString("base64");
    if (!utf8) properties[AmqpProperty.bodyEncoding] = "base64";
    let ttlMs: number | undefined;
    try {
      const expiration = expirationMs(m.properties.expiration);
      ttlMs = expiration === undefined ? undefined : Math.max(1, expiration);
    } catch (error) {
      throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - ${(error as Error).message}`);
    }
    const tag = m.routingKey.length > 0 && m.routingKey.length <= LIMITS.tagChars && !m.routingKey.includes("|") ? m.routingKey : undefined;
    const key = m.properties.messageId !== undefined && m.properties.messageId.length > 0 && m.properties.messageId.length <= LIMITS.keyChars ? m.properties.messageId : undefined;
    return {
      body,
      properties,
      ...(tag !== undefined && { tag }),
      ...(key !== undefined && { key }),
      ...(ttlMs !== undefined && { ttlMs }),
    };
  }

  /**
   * Up to `max` deliveries of the queue, waiting up to `waitSeconds` (0: one look), each held for
   * `leaseSeconds`: the connection renews the lease while it holds the delivery (see extend), so a door
   * that stops without closing its connections gives them back within one lease.
   */
  async consume(q: QueueDef, max: number, waitSeconds: number, leaseSeconds: number, signal?: AbortSignal): Promise<AmqpMessage[]> {
    const got = await this.queue.consume({ topic: q.topic, group: AMQP_GROUP, max, waitSeconds, visibilitySeconds: leaseSeconds, door: DeliveryDoor.Amqp }, signal);
    return got.map((m) => toAmqpMessage(q, m, this.log));
  }

  /** Renews a held delivery's lease; false when it is no longer this handle's (acked, or its lease ran out). */
  async extend(topic: string, receiptHandle: string, leaseSeconds: number): Promise<boolean> {
    try {
      await this.queue.retry.extendVisibility({ topic, group: AMQP_GROUP, receiptHandle, visibilitySeconds: leaseSeconds });
      return true;
    } catch (error) {
      if (error instanceof QueueError) return false;
      throw error;
    }
  }

  async ack(topic: string, receiptHandle: string): Promise<void> {
    await this.queue.ack({ topic, group: AMQP_GROUP, receiptHandles: [receiptHandle] });
  }

  /** Back to the queue now (requeue), or to the group's dead letters (reject without requeue). */
  async nack(topic: string, receiptHandle: string, requeue: boolean): Promise<void> {
    try {
      await this.queue.retry.nack({ topic, group: AMQP_GROUP, receiptHandle, ...(requeue ? { delayMs: 0 } : { requeue: false }) });
      if (!requeue && this.watched.get(topic)?.dl) this.forward(topic);
    } catch (error) {
      // A delivery whose handle is spent (its visibility ran out and it was redelivered) has nothing left to give back.
      if (!(error instanceof QueueError)) throw error;
    }
  }
}

/** A value AMQP can carry as a short string (at most 255 bytes), else undefined. */
function shortString(value: string | undefined): string | undefined {
  return value !== undefined && Buffer.byteLength(value) <= 255 ? value : undefined;
}

function toAmqpMessage(q: QueueDef, m: ReceivedMessage, log: Logger): AmqpMessage {
  const p = m.properties;
  const body = p[AmqpProperty.bodyEncoding] === "base64" ? Buffer.from(m.body, "base64") : Buffer.from(m.body, "utf8");
  const base = {
    topic: q.topic,
    receiptHandle: m.receiptHandle,
    messageId: m.messageId,
    redelivered: m.consumedTimes > 1,
    exchange: shortString(p[AmqpProperty.exchange]) ?? "",
    routingKey: shortString(p[AmqpProperty.routingKey]) ?? q.name,
    body,
  };
  const raw = p[AmqpProperty.properties];
  if (raw !== undefined) {
    try {
      const rawProperties = Buffer.from(raw, "base64");
      return { ...base, rawProperties, properties: decodeProperties(rawProperties) };
    } catch (error) {
      log.warn("amqp-properties-unreadable", { topic: q.topic, messageId: m.messageId, error: String(error) });
    }
  }
  // A message published through another door: its properties as headers, its key (or id) as message-id.
  const headers: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) if (!k.startsWith("amqp-")) headers[k] = v;
  return {
    ...base,
    properties: { headers, messageId: shortString(m.key) ?? m.messageId, timestamp: Math.floor(m.publishedAtMs / 1000), ...(m.tag !== undefined && { type: m.tag }) },
  };
}

/** How often a door process looks for dead letters to forward that it was not told of (retired by another process or the sweeper). */
export const DEAD_LETTER_LOOK_MS = 10_000;

/** Expiry looks of one queue within this many milliseconds share one timer. */
const EXPIRY_SLOT_MS = 100;

/** How often a door process reads the durable topology again (what other processes declared or deleted). */
export const TOPOLOGY_REFRESH_MS = 5000;

/** The store's part the broker keeps its durable topology in. */
export type TopologyStore = Pick<QueueStore, "putTopology" | "deleteTopology" | "listTopology">;

function isBuiltin(name: string): boolean {
  return name === "" || name.startsWith("amq.");
}

/** Durable, non-exclusive queues outlive their connection and the process: they are stored. */
function persisted(q: { durable: boolean; owner?: string | undefined }): boolean {
  return q.durable && q.owner === undefined;
}

function bindingId(exchange: string, queue: string, routingKey: string, args: Record<string, unknown>): string {
  const argsKey = createHash("sha256").update(encodeSpec(Object.fromEntries(Object.entries(args).sort(([a], [b]) => (a < b ? -1 : 1))))).digest("hex").slice(0, 16);
  return `b:${exchange}\u0000${queue}\u0000${routingKey}\u0000${argsKey}`;
}

/** JSON that keeps AMQP table values: bigints and byte strings. */
function encodeSpec(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "bigint") return { $bigint: v.toString() };
    if (v && typeof v === "object" && (v as { type?: unknown }).type === "Buffer" && Array.isArray((v as { data?: unknown }).data)) {
      return { $bytes: Buffer.from((v as { data: number[] }).data).toString("base64") };
    }
    return v;
  });
}

function decodeSpec(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.$bigint === "string" && Object.keys(o).length === 1) return BigInt(o.$bigint);
      if (typeof o.$bytes === "string" && Object.keys(o).length === 1) return Buffer.from(o.$bytes, "base64");
    }
    return v;
  });
}

export type { Vhost };
