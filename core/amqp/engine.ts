import { randomBytes } from "node:crypto";
import { ErrorCode, QueueError } from "../errors.js";
import type { Clock, Logger } from "../ports.js";
import { type AmqpBroker, AmqpError, type AmqpMessage, type PublishOutcome, type QueueDef, type Vhost } from "./broker.js";
import {
  type BasicProperties,
  FRAME_MIN_SIZE,
  FRAME_OVERHEAD,
  type Frame,
  FrameError,
  FrameType,
  HEARTBEAT_FRAME,
  Method,
  PROTOCOL_HEADER,
  Reply,
  decodeTableFields,
  encodeBody,
  encodeHeader,
  encodeMethod,
  encodeRawHeader,
  methodName,
  readFrame,
} from "./codec.js";

/**
 * One AMQP 0-9-1 connection as a state machine without I/O: bytes in (`receive`), frames out (`write`),
 * queue commands through the broker. The runner owns the socket and calls `tick` for heartbeats.
 *
 * Handshake: protocol header → connection.start (PLAIN, AMQPLAIN) → start-ok → tune → tune-ok → open.
 * Errors close the channel or the connection with the specification's reply code; nothing a peer sends
 * makes `receive` throw.
 */

export interface AmqpLimits {
  /** Largest frame, overhead included, offered at tune. */
  frameMax: number;
  channelMax: number;
  /** Heartbeat offered at tune, in seconds (0: none). */
  heartbeatSeconds: number;
  /** Publishes being stored at once per connection; beyond it the runner stops reading the socket. */
  maxPublishesInFlight: number;
  /** Outbound bytes buffered at which consumers stop taking deliveries. */
  outboundHighWaterBytes: number;
  /** Time a peer gets to finish the handshake, and to answer a close. */
  handshakeTimeoutMs: number;
  /** Longest wait of one consumer poll. */
  consumeWaitSeconds: number;
  /**
   * How long a delivery is held for its channel without renewal. The connection renews it while the
   * delivery is unacked, so only a door process that stops without closing its connections (a crash)
   * leaves deliveries held, for at most this long.
   */
  deliveryLeaseSeconds: number;
}

export const DEFAULT_AMQP_LIMITS: AmqpLimits = {
  frameMax: 131_072,
  channelMax: 2047,
  heartbeatSeconds: 60,
  maxPublishesInFlight: 256,
  outboundHighWaterBytes: 4 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  consumeWaitSeconds: 20,
  deliveryLeaseSeconds: 60,
};

export interface AmqpEngineDeps {
  broker: AmqpBroker;
  clock: Clock;
  log: Logger;
  /** Whether these credentials may connect (the runner knows the peer's address). */
  authenticate(user: string, password: string): boolean;
  write(bytes: Buffer): void;
  /** Ends the transport after what was written. */
  end(): void;
  /** Bytes written and not yet sent. */
  pendingBytes?(): number;
  /** Stop (true) or resume (false) reading from the peer. */
  pause?(paused: boolean): void;
  limits?: Partial<AmqpLimits>;
  id?: string;
}

type ConnState = "header" | "start" | "tune" | "open" | "opening" | "running" | "closing" | "closed";

interface Unacked {
  topic: string;
  receiptHandle: string;
  consumer: Consumer | undefined;
  /** When the delivery's lease runs out unless renewed. */
  heldUntilMs: number;
  renewing: boolean;
  /** Settled within an open transaction: takes effect at tx.commit, forgotten at tx.rollback. */
  txSettled?: "ack" | "requeue" | "reject";
}

interface Consumer {
  tag: string;
  queue: QueueDef;
  noAck: boolean;
  active: boolean;
  unacked: number;
  abort: AbortController;
  wake: (() => void) | undefined;
}

interface Content {
  exchange: string;
  routingKey: string;
  mandatory: boolean;
  bodySize: number | undefined;
  properties: BasicProperties;
  raw: Buffer;
  chunks: Buffer[];
  received: number;
}

interface Confirm {
  seq: number;
  outcome: "pending" | "ack" | "nack";
}

class Channel {
  state: "open" | "closing" = "open";
  confirm = false;
  /** tx.select was sent: publishes and settlements wait for tx.commit. */
  tx = false;
  txPublishes: { exchange: string; routingKey: string; mandatory: boolean; properties: BasicProperties; rawProperties: Buffer; body: Buffer }[] = [];
  publishSeq = 0;
  confirms: Confirm[] = [];
  prefetch = 0;
  prefetchGlobal = false;
  content: Content | undefined;
  readonly unacked = new Map<number, Unacked>();
  nextTag = 1;
  readonly consumers = new Map<string, Consumer>();
  readonly inflight = new Set<Promise<unknown>>();
  chain: Promise<void> = Promise.resolve();
  lastQueue = "";
  constructor(readonly id: number) {}
}

const SERVER_PROPERTIES = {
  product: "delayq",
  version: "0.1.0",
  platform: "Node.js",
  information: "delayed and scheduled messages over AMQP 0-9-1",
  capabilities: {
    publisher_confirms: true,
    "basic.nack": true,
    consumer_cancel_notify: true,
    per_consumer_qos: true,
    authentication_failure_close: true,
    exchange_exchange_bindings: true,
    "connection.blocked": false,
    consumer_priorities: false,
    direct_reply_to: false,
  },
};

const CONSUME_BATCH = 16;

export class AmqpConnection {
  readonly id: string;
  private state: ConnState = "header";
  private inbound: Buffer = Buffer.alloc(0);
  private readonly limits: AmqpLimits;
  private frameMax: number;
  private channelMax: number;
  private heartbeatSeconds = 0;
  private readonly channels = new Map<number, Channel>();
  private vhost: Vhost | undefined;
  private user = "";
  private readonly startedMs: number;
  private lastRecvMs: number;
  private lastSentMs: number;
  private closingSinceMs = 0;
  private publishesInFlight = 0;
  private paused = false;
  private cleaned = false;

  constructor(private readonly deps: AmqpEngineDeps) {
    this.limits = { ...DEFAULT_AMQP_LIMITS, ...deps.limits };
    this.frameMax = this.limits.frameMax;
    this.channelMax = this.limits.channelMax;
    this.id = deps.id ?? randomBytes(8).toString("hex");
    this.startedMs = this.lastRecvMs = this.lastSentMs = deps.clock.nowMs();
  }

  /** The connection's state and user, for logs and tests. */
  get status(): { state: ConnState; user: string; channels: number } {
    return { state: this.state, user: this.user, channels: this.channels.size };
  }

  /** Bytes from the peer. Never throws: a fault closes the connection with a reply code. */
  receive(chunk: Buffer): void {
    if (this.state === "closed") return;
    this.lastRecvMs = this.deps.clock.nowMs();
    this.inbound = this.inbound.length === 0 ? chunk : Buffer.concat([this.inbound, chunk]);
    try {
      if (this.state === "header") {
        if (this.inbound.length < PROTOCOL_HEADER.length) {
          if (!PROTOCOL_HEADER.subarray(0, this.inbound.length).equals(this.inbound)) this.refuseHeader();
          return;
        }
        if (!this.inbound.subarray(0, PROTOCOL_HEADER.length).equals(PROTOCOL_HEADER)) return this.refuseHeader();
        this.inbound = this.inbound.subarray(PROTOCOL_HEADER.length);
        this.state = "start";
        this.sendMethod(0, Method.ConnectionStart, {
          versionMajor: 0,
          versionMinor: 9,
          serverProperties: SERVER_PROPERTIES,
          mechanisms: Buffer.from("PLAIN AMQPLAIN"),
          locales: Buffer.from("en_US"),
        });
      }
      while ((this.state as ConnState) !== "closed") {
        const read = readFrame(this.inbound, this.state === "start" || this.state === "tune" ? Math.max(this.frameMax, FRAME_MIN_SIZE) : this.frameMax);
        if (!read) break;
        this.inbound = read.rest;
        this.onFrame(read.frame);
      }
    } catch (error) {
      if (error instanceof FrameError) this.connectionError(error.code, `${Reply.FrameError === error.code ? "FRAME_ERROR" : "COMMAND_INVALID"} - ${error.message}`);
      else if (error instanceof AmqpError) this.connectionError(error.code, error.message);
      else {
        this.deps.log.error("amqp-internal-error", { connection: this.id, error: String(error) });
        this.connectionError(Reply.InternalError, "INTERNAL_ERROR");
      }
    }
  }

  /** Heartbeats, a handshake that takes too long, a peer gone silent, a close never answered. */
  tick(nowMs: number): void {
    if (this.state === "closed") return;
    if (this.state === "closing") {
      if (nowMs - this.closingSinceMs >= this.limits.handshakeTimeoutMs / 2) this.terminate();
      return;
    }
    if (this.state !== "running") {
      if (nowMs - this.startedMs >= this.limits.handshakeTimeoutMs) {
        this.deps.log.warn("amqp-handshake-timeout", { connection: this.id, state: this.state });
        this.terminate();
      }
      return;
    }
    this.renewLeases(nowMs);
    if (this.heartbeatSeconds === 0) return;
    const hbMs = this.heartbeatSeconds * 1000;
    if (nowMs - this.lastRecvMs > 2 * hbMs) {
      this.deps.log.warn("amqp-heartbeat-missed", { connection: this.id, silentMs: nowMs - this.lastRecvMs });
      this.terminate();
      return;
    }
    if (nowMs - this.lastSentMs >= hbMs / 2) this.write(HEARTBEAT_FRAME);
  }

  private leaseEndMs(): number {
    return this.deps.clock.nowMs() + this.limits.deliveryLeaseSeconds * 1000;
  }

  /** Unacked deliveries past a third of their lease are renewed for another lease. */
  private renewLeases(nowMs: number): void {
    const leaseMs = this.limits.deliveryLeaseSeconds * 1000;
    for (const ch of this.channels.values()) {
      if (ch.state !== "open") continue;
      for (const [tag, u] of ch.unacked) {
        if (u.renewing || nowMs < u.heldUntilMs - (2 * leaseMs) / 3) continue;
        u.renewing = true;
        const until = nowMs + leaseMs;
        this.track(
          ch,
          this.deps.broker.extend(u.topic, u.receiptHandle, this.limits.deliveryLeaseSeconds).then(
            (ok) => {
              // A lost lease is not retried: the delivery is another consumer's now (its ack will find it spent).
              if (!ok) return this.deps.log.warn("amqp-lease-lost", { connection: this.id, channel: ch.id, deliveryTag: tag, topic: u.topic });
              u.heldUntilMs = until;
              u.renewing = false;
            },
            (error: unknown) => {
              // The store could not be reached: tried again at the next tick.
              u.renewing = false;
              throw error;
            },
          ),
        );
      }
    }
  }

  /** The transport ended (peer closed, reset, or terminate): unacked deliveries go back to their queues. */
  transportClosed(): void {
    this.state = "closed";
    void this.cleanup();
  }

  /** Shutdown: connection.close 320 CONNECTION_FORCED; the peer answers close-ok or the runner ends the socket. */
  shutdown(reason = "shutdown"): void {
    if (this.state === "closed" || this.state === "closing") return;
    if (this.state !== "running") return this.terminate();
    this.connectionError(Reply.ConnectionForced, `CONNECTION_FORCED - broker forced connection closure with reason '${reason}'`);
  }

  private refuseHeader(): void {
    // The specification's answer to a wrong protocol header: the header this server speaks, then close.
    this.write(PROTOCOL_HEADER);
    this.terminate();
  }

  private terminate(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.deps.end();
    void this.cleanup();
  }

  private write(bytes: Buffer): void {
    if (this.state === "closed") return;
    this.lastSentMs = this.deps.clock.nowMs();
    this.deps.write(bytes);
  }

  private sendMethod(channel: number, id: number, fields: Record<string, unknown>): void {
    this.write(encodeMethod(channel, id, fields));
  }

  private connectionError(code: number, text: string, classId = 0, methodId = 0): void {
    if (this.state === "closed" || this.state === "closing") return;
    const handshake = this.state !== "running";
    this.deps.log.warn("amqp-connection-closed", { connection: this.id, code, text });
    this.sendMethod(0, Method.ConnectionClose, { replyCode: code, replyText: text.slice(0, 255), classId, methodId });
    this.state = "closing";
    this.closingSinceMs = this.deps.clock.nowMs();
    this.inbound = Buffer.alloc(0);
    void this.cleanup();
    // A refused handshake ends at once: the client has no connection to answer the close on.
    if (handshake) this.terminate();
  }

  private onFrame(frame: Frame): void {
    if (frame.type === FrameType.Heartbeat) {
      if (frame.channel !== 0) throw new FrameError(Reply.FrameError, "heartbeat frame on a channel other than 0");
      return;
    }
    if (this.state === "closing") {
      if (frame.type === FrameType.Method && frame.channel === 0 && (frame.id === Method.ConnectionCloseOk || frame.id === Method.ConnectionClose)) {
        if (frame.id === Method.ConnectionClose) this.sendMethod(0, Method.ConnectionCloseOk, {});
        this.terminate();
      }
      return;
    }
    if (this.state !== "running") return this.onHandshake(frame);
    if (frame.channel === 0) return this.onConnectionFrame(frame);
    if (frame.channel > this.channelMax) {
      return this.connectionError(Reply.ChannelError, `CHANNEL_ERROR - channel ${frame.channel} is above the negotiated channel-max ${this.channelMax}`);
    }
    const ch = this.channels.get(frame.channel);
    if (frame.type === FrameType.Method && frame.id === Method.ChannelOpen) {
      if (ch) return this.connectionError(Reply.ChannelError, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10);
      this.channels.set(frame.channel, new Channel(frame.channel));
      this.sendMethod(frame.channel, Method.ChannelOpenOk, {});
      return;
    }
    if (!ch) {
      return this.connectionError(Reply.ChannelError, `CHANNEL_ERROR - expected 'channel.open' on channel ${frame.channel}`);
    }
    if (ch.state === "closing") {
      if (frame.type === FrameType.Method && frame.id === Method.ChannelCloseOk) this.channels.delete(ch.id);
      else if (frame.type === FrameType.Method && frame.id === Method.ChannelClose) this.sendMethod(ch.id, Method.ChannelCloseOk, {});
      return;
    }
    // Content frames belong to the publish before them: checked now, in arrival order.
    if (frame.type === FrameType.Method && ch.content) {
      return this.connectionError(Reply.UnexpectedFrame, `UNEXPECTED_FRAME - expected content header or body for basic.publish, got ${methodName(frame.id)}`);
    }
    if (frame.type === FrameType.Header) return this.onHeader(ch, frame);
    if (frame.type === FrameType.Body) return this.onBody(ch, frame.content);
    if (frame.id === Method.BasicPublish) {
      const f = frame.fields as { exchange: string; routingKey: string; mandatory: boolean };
      ch.content = { exchange: f.exchange, routingKey: f.routingKey, mandatory: f.mandatory, bodySize: undefined, properties: {}, raw: Buffer.alloc(0), chunks: [], received: 0 };
      return;
    }
    if (frame.id === Method.ChannelClose) {
      this.closeChannelByPeer(ch);
      return;
    }
    const id = frame.id;
    const fields = frame.fields;
    ch.chain = ch.chain.then(() => this.onChannelMethod(ch, id, fields)).catch((error: unknown) => this.channelFault(ch, error, id));
  }

  private channelFault(ch: Channel, error: unknown, id: number): void {
    const classId = id >>> 16;
    const methodId = id & 0xffff;
    if (error instanceof AmqpError) {
      if (error.connection) this.connectionError(error.code, error.message, classId, methodId);
      else this.channelError(ch, error.code, error.message, classId, methodId);
      return;
    }
    if (error instanceof QueueError) {
      // The queue refused what the method asked (an argument out of range) or could not do it now (an outage).
      const code = error.code === ErrorCode.InvalidArgument ? Reply.PreconditionFailed : Reply.InternalError;
      this.channelError(ch, code, `${code === Reply.PreconditionFailed ? "PRECONDITION_FAILED" : "INTERNAL_ERROR"} - ${error.message}`, classId, methodId);
      return;
    }
    this.deps.log.error("amqp-channel-internal-error", { connection: this.id, channel: ch.id, method: methodName(id), error: String(error) });
    this.channelError(ch, Reply.InternalError, "INTERNAL_ERROR", classId, methodId);
  }

  private channelError(ch: Channel, code: number, text: string, classId = 0, methodId = 0): void {
    if (ch.state === "closing" || this.state !== "running" || this.channels.get(ch.id) !== ch) return;
    ch.state = "closing";
    ch.content = undefined;
    void this.releaseChannel(ch);
    this.sendMethod(ch.id, Method.ChannelClose, { replyCode: code, replyText: text.slice(0, 255), classId, methodId });
  }

  private closeChannelByPeer(ch: Channel): void {
    ch.state = "closing";
    ch.content = undefined;
    // Publishes sent before the close are stored before close-ok; methods queued behind them are skipped.
    void ch.chain.then(() => this.releaseChannel(ch)).then(() => {
      if (this.state !== "running" || this.channels.get(ch.id) !== ch) return;
      this.channels.delete(ch.id);
      this.sendMethod(ch.id, Method.ChannelCloseOk, {});
    });
  }

  private onHandshake(frame: Frame): void {
    if (frame.type !== FrameType.Method || frame.channel !== 0) {
      return this.connectionError(Reply.CommandInvalid, "COMMAND_INVALID - expected a connection method during the handshake");
    }
    const expected = { start: Method.ConnectionStartOk, tune: Method.ConnectionTuneOk, open: Method.ConnectionOpen }[this.state as "start" | "tune" | "open"];
    if (frame.id === Method.ConnectionClose) {
      this.sendMethod(0, Method.ConnectionCloseOk, {});
      return this.terminate();
    }
    if (frame.id !== expected) {
      return this.connectionError(Reply.CommandInvalid, `COMMAND_INVALID - expected ${methodName(expected)}, got ${methodName(frame.id)}`);
    }
    const f = frame.fields;
    if (this.state === "start") {
      const credentials = readCredentials(String(f.mechanism), f.response as Buffer);
      if (!credentials || !this.deps.authenticate(credentials.user, credentials.password)) {
        this.deps.log.warn("amqp-login-refused", { connection: this.id, mechanism: String(f.mechanism), user: credentials?.user });
        return this.connectionError(
          Reply.AccessRefused,
          `ACCESS_REFUSED - Login was refused using authentication mechanism ${String(f.mechanism)}. For details see the broker logfile.`,
        );
      }
      this.user = credentials.user;
      this.state = "tune";
      this.sendMethod(0, Method.ConnectionTune, { channelMax: this.limits.channelMax, frameMax: this.limits.frameMax, heartbeat: this.limits.heartbeatSeconds });
      return;
    }
    if (this.state === "tune") {
      const channelMax = Number(f.channelMax);
      const frameMax = Number(f.frameMax);
      if (frameMax !== 0 && frameMax < FRAME_MIN_SIZE) return this.connectionError(Reply.NotAllowed, `NOT_ALLOWED - frame_max=${frameMax} < ${FRAME_MIN_SIZE} min size`);
      if (frameMax > this.limits.frameMax) return this.connectionError(Reply.NotAllowed, `NOT_ALLOWED - frame_max=${frameMax} > ${this.limits.frameMax} max size`);
      if (channelMax > this.limits.channelMax) return this.connectionError(Reply.NotAllowed, `NOT_ALLOWED - channel_max=${channelMax} > ${this.limits.channelMax} max`);
      this.frameMax = frameMax === 0 ? this.limits.frameMax : frameMax;
      this.channelMax = channelMax === 0 ? this.limits.channelMax : channelMax;
      this.heartbeatSeconds = Number(f.heartbeat);
      this.state = "open";
      return;
    }
    // open: the vhost's durable topology is read before open-ok
    this.state = "opening";
    this.deps.broker.openVhost(String(f.virtualHost)).then(
      (vhost) => {
        if (this.state !== "opening") return;
        this.vhost = vhost;
        this.state = "running";
        this.sendMethod(0, Method.ConnectionOpenOk, { knownHosts: "" });
      },
      (error: unknown) => {
        if (this.state !== "opening") return;
        if (error instanceof AmqpError) return this.connectionError(error.code, error.message, 10, 40);
        this.deps.log.error("amqp-vhost-unavailable", { connection: this.id, error: String(error) });
        this.connectionError(Reply.InternalError, "INTERNAL_ERROR - the vhost's topology could not be read; try again", 10, 40);
      },
    );
  }

  private onConnectionFrame(frame: Frame): void {
    if (frame.type !== FrameType.Method) return this.connectionError(Reply.UnexpectedFrame, "UNEXPECTED_FRAME - content frame on channel 0");
    switch (frame.id) {
      case Method.ConnectionClose:
        this.state = "closing";
        this.closingSinceMs = this.deps.clock.nowMs();
        void Promise.allSettled([...this.channels.values()].map((ch) => ch.chain))
          .then(() => this.cleanup())
          .then(() => {
          if (this.state === "closed") return;
          this.sendMethod(0, Method.ConnectionCloseOk, {});
          this.terminate();
        });
        return;
      case Method.ConnectionBlocked:
      case Method.ConnectionUnblocked:
      case Method.ConnectionCloseOk:
        return;
      default:
        return this.connectionError(Reply.CommandInvalid, `COMMAND_INVALID - ${methodName(frame.id)} is not expected on channel 0`, frame.id >>> 16, frame.id & 0xffff);
    }
  }

  private onHeader(ch: Channel, frame: Extract<Frame, { type: typeof FrameType.Header }>): void {
    const c = ch.content;
    if (!c || c.bodySize !== undefined) return this.connectionError(Reply.UnexpectedFrame, "UNEXPECTED_FRAME - content header without a basic.publish before it");
    c.bodySize = frame.bodySize;
    c.properties = frame.properties;
    c.raw = frame.raw;
    if (frame.bodySize > this.deps.broker.maxBodyBytes) {
      ch.content = undefined;
      return this.channelError(ch, Reply.PreconditionFailed, `PRECONDITION_FAILED - message size ${frame.bodySize} is larger than configured max size ${this.deps.broker.maxBodyBytes}`, 60, 40);
    }
    if (frame.bodySize === 0) this.completePublish(ch);
  }

  private onBody(ch: Channel, content: Buffer): void {
    const c = ch.content;
    if (!c || c.bodySize === undefined) return this.connectionError(Reply.UnexpectedFrame, "UNEXPECTED_FRAME - content body without a content header before it");
    c.received += content.length;
    if (c.received > c.bodySize) return this.connectionError(Reply.FrameError, `FRAME_ERROR - content body of ${c.received} bytes exceeds the header's ${c.bodySize}`);
    c.chunks.push(Buffer.from(content));
    if (c.received === c.bodySize) this.completePublish(ch);
  }

  private completePublish(ch: Channel): void {
    const c = ch.content as Content;
    ch.content = undefined;
    const body = Buffer.concat(c.chunks);
    const message = { exchange: c.exchange, routingKey: c.routingKey, properties: c.properties, rawProperties: c.raw, body };
    // Publishes run in the channel's order of methods (after a declare or confirm.select still being answered).
    const run = ch.chain.then(() => {
      if (ch.state !== "open") return;
      if (ch.tx) {
        ch.txPublishes.push({ ...message, mandatory: c.mandatory });
        return;
      }
      const confirm: Confirm | undefined = ch.confirm ? { seq: ++ch.publishSeq, outcome: "pending" } : undefined;
      if (confirm) ch.confirms.push(confirm);
      let stored: Promise<PublishOutcome>;
      try {
        stored = this.deps.broker.publish(this.vhost as Vhost, message);
      } catch (error) {
        if (confirm) confirm.outcome = "nack";
        this.flushConfirms(ch);
        this.channelFault(ch, error, Method.BasicPublish);
        return;
      }
      this.publishesInFlight++;
      this.updatePause();
      const done = stored
        .then(
          (outcome) => {
            if (c.mandatory && outcome.queues.length === 0 && ch.state === "open") {
              this.sendMethod(ch.id, Method.BasicReturn, { replyCode: Reply.NoRoute, replyText: "NO_ROUTE", exchange: c.exchange, routingKey: c.routingKey });
              this.sendContent(ch.id, c.raw, c.properties, body);
            }
            // A queue at its x-max-length with reject-publish refused its copy: RabbitMQ nacks such a publish.
            if (confirm) confirm.outcome = outcome.rejected.length > 0 ? "nack" : "ack";
          },
          (error: unknown) => {
            if (confirm) confirm.outcome = "nack";
            if (error instanceof AmqpError) this.channelFault(ch, error, Method.BasicPublish);
            else this.deps.log.error("amqp-publish-failed", { connection: this.id, channel: ch.id, exchange: c.exchange, error: String(error) });
          },
        )
        .finally(() => {
          this.publishesInFlight--;
          this.updatePause();
          ch.inflight.delete(done);
          this.flushConfirms(ch);
        });
      ch.inflight.add(done);
    });
    ch.chain = run.catch((error: unknown) => this.channelFault(ch, error, Method.BasicPublish));
  }

  /** Confirms go out in publish order, each once its message is stored (ack) or could not be (nack). */
  private flushConfirms(ch: Channel): void {
    while (ch.confirms.length > 0 && (ch.confirms[0] as Confirm).outcome !== "pending") {
      const c = ch.confirms.shift() as Confirm;
      if (ch.state !== "open") continue;
      if (c.outcome === "ack") this.sendMethod(ch.id, Method.BasicAck, { deliveryTag: c.seq, multiple: false });
      else this.sendMethod(ch.id, Method.BasicNack, { deliveryTag: c.seq, multiple: false, requeue: false });
    }
  }

  private updatePause(): void {
    const paused = this.publishesInFlight >= this.limits.maxPublishesInFlight;
    if (paused !== this.paused) {
      this.paused = paused;
      this.deps.pause?.(paused);
    }
  }

  private sendContent(channel: number, raw: Buffer | undefined, properties: BasicProperties, body: Buffer): void {
    this.write(Buffer.concat(this.contentFrames(channel, raw, properties, body)));
  }

  private contentFrames(channel: number, raw: Buffer | undefined, properties: BasicProperties, body: Buffer): Buffer[] {
    const header = raw && raw.length >= 2 ? encodeRawHeader(channel, body.length, raw) : encodeHeader(channel, body.length, properties);
    if (header.length > this.frameMax) throw new Error(`the message's properties (${header.length} bytes) do not fit the negotiated frame-max ${this.frameMax}`);
    const frames = [header];
    const max = this.frameMax - FRAME_OVERHEAD;
    for (let i = 0; i < body.length; i += max) frames.push(encodeBody(channel, body.subarray(i, i + max)));
    return frames;
  }

  /**
   * A delivery's frames, or undefined when it cannot be put on this connection (a message from another
   * door whose properties AMQP cannot carry, or that do not fit the frame-max): it goes to the dead letters.
   */
  private deliveryFrames(ch: Channel, method: number, fields: Record<string, unknown>, m: AmqpMessage): Buffer | undefined {
    try {
      return Buffer.concat([encodeMethod(ch.id, method, fields), ...this.contentFrames(ch.id, m.rawProperties, m.properties, m.body)]);
    } catch (error) {
      this.deps.log.warn("amqp-undeliverable", { connection: this.id, topic: m.topic, messageId: m.messageId, error: String(error) });
      this.track(ch, this.deps.broker.nack(m.topic, m.receiptHandle, false));
      return undefined;
    }
  }

  private async onChannelMethod(ch: Channel, id: number, f: Record<string, unknown>): Promise<void> {
    if (ch.state !== "open" || this.state !== "running") return;
    const vhost = this.vhost as Vhost;
    const broker = this.deps.broker;
    const nowait = f.nowait === true;
    const reply = (method: number, fields: Record<string, unknown> = {}) => {
      if (!nowait && ch.state === "open") this.sendMethod(ch.id, method, fields);
    };
    switch (id) {
      case Method.AccessRequest:
        return this.sendMethod(ch.id, Method.AccessRequestOk, { ticket: 1 });
      case Method.ChannelFlow:
        return this.sendMethod(ch.id, Method.ChannelFlowOk, { active: f.active === true });
      case Method.ChannelFlowOk:
        return;
      case Method.ExchangeDeclare:
        await broker.declareExchange(vhost, f as Parameters<AmqpBroker["declareExchange"]>[1]);
        return reply(Method.ExchangeDeclareOk);
      case Method.ExchangeDelete:
        await broker.deleteExchange(vhost, String(f.exchange), f.ifUnused === true);
        return reply(Method.ExchangeDeleteOk);
      case Method.QueueDeclare: {
        const q = await broker.declareQueue(vhost, this.id, f as Parameters<AmqpBroker["declareQueue"]>[2]);
        ch.lastQueue = q.name;
        return reply(Method.QueueDeclareOk, { queue: q.name, messageCount: 0, consumerCount: q.consumers });
      }
      case Method.QueueBind:
        await broker.bindQueue(vhost, this.id, { ...(f as Parameters<AmqpBroker["bindQueue"]>[2]), queue: this.queueName(ch, f.queue) });
        return reply(Method.QueueBindOk);
      case Method.QueueUnbind:
        await broker.unbindQueue(vhost, this.id, { ...(f as Parameters<AmqpBroker["unbindQueue"]>[2]), queue: this.queueName(ch, f.queue) });
        return this.sendMethod(ch.id, Method.QueueUnbindOk, {});
      case Method.QueueDelete:
        await broker.deleteQueue(vhost, this.id, { queue: this.queueName(ch, f.queue), ifUnused: f.ifUnused === true, ifEmpty: f.ifEmpty === true });
        return reply(Method.QueueDeleteOk, { messageCount: 0 });
      case Method.BasicQos:
        ch.prefetch = Number(f.prefetchCount);
        ch.prefetchGlobal = f.global === true;
        for (const c of ch.consumers.values()) c.wake?.();
        return this.sendMethod(ch.id, Method.BasicQosOk, {});
      case Method.ConfirmSelect:
        if (ch.tx) throw new AmqpError(Reply.PreconditionFailed, "PRECONDITION_FAILED - cannot switch from tx to confirm mode");
        ch.confirm = true;
        return reply(Method.ConfirmSelectOk);
      case Method.BasicConsume:
        return this.consume(ch, f);
      case Method.BasicCancel: {
        const tag = String(f.consumerTag);
        const c = ch.consumers.get(tag);
        if (c) await this.stopConsumer(ch, c);
        return reply(Method.BasicCancelOk, { consumerTag: tag });
      }
      case Method.BasicGet:
        return this.get(ch, f);
      case Method.BasicAck:
        return this.settle(ch, Number(f.deliveryTag), f.multiple === true, "ack");
      case Method.BasicNack:
        return this.settle(ch, Number(f.deliveryTag), f.multiple === true, f.requeue === false ? "reject" : "requeue");
      case Method.BasicReject:
        return this.settle(ch, Number(f.deliveryTag), false, f.requeue === false ? "reject" : "requeue");
      case Method.BasicRecover:
      case Method.BasicRecoverAsync:
        this.requeueAll(ch);
        if (id === Method.BasicRecover) this.sendMethod(ch.id, Method.BasicRecoverOk, {});
        return;
      case Method.ExchangeBind:
        await broker.bindExchange(vhost, f as Parameters<AmqpBroker["bindExchange"]>[1]);
        return reply(Method.ExchangeBindOk);
      case Method.ExchangeUnbind:
        await broker.unbindExchange(vhost, f as Parameters<AmqpBroker["unbindExchange"]>[1]);
        return reply(Method.ExchangeUnbindOk);
      case Method.QueuePurge: {
        const q = await broker.locateQueue(vhost, this.queueName(ch, f.queue), this.id);
        const messageCount = await broker.purge(q);
        return reply(Method.QueuePurgeOk, { messageCount });
      }
      case Method.TxSelect:
        if (ch.confirm) throw new AmqpError(Reply.PreconditionFailed, "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
        ch.tx = true;
        return this.sendMethod(ch.id, Method.TxSelectOk, {});
      case Method.TxCommit:
        await this.commit(ch);
        return this.sendMethod(ch.id, Method.TxCommitOk, {});
      case Method.TxRollback:
        if (!ch.tx) throw new AmqpError(Reply.PreconditionFailed, "PRECONDITION_FAILED - channel is not transactional");
        ch.txPublishes = [];
        for (const u of ch.unacked.values()) delete u.txSettled;
        return this.sendMethod(ch.id, Method.TxRollbackOk, {});
      default:
        throw new AmqpError(Reply.CommandInvalid, `COMMAND_INVALID - ${methodName(id)} is not a method a client sends on a channel`, true);
    }
  }

  /** An empty queue name means the channel's last declared queue (the specification's rule). */
  private queueName(ch: Channel, name: unknown): string {
    const n = String(name ?? "");
    if (n !== "") return n;
    if (ch.lastQueue === "") throw new AmqpError(Reply.NotFound, "NOT_FOUND - no previously declared queue");
    return ch.lastQueue;
  }

  private async consume(ch: Channel, f: Record<string, unknown>): Promise<void> {
    const vhost = this.vhost as Vhost;
    const q = await this.deps.broker.locateQueue(vhost, this.queueName(ch, f.queue), this.id);
    let tag = String(f.consumerTag ?? "");
    if (tag === "") tag = `amq.ctag-${randomBytes(16).toString("base64url")}`;
    if (ch.consumers.has(tag)) throw new AmqpError(Reply.NotAllowed, `NOT_ALLOWED - attempt to reuse consumer tag '${tag}'`, true);
    const consumer: Consumer = { tag, queue: q, noAck: f.noAck === true, active: true, unacked: 0, abort: new AbortController(), wake: undefined };
    ch.consumers.set(tag, consumer);
    await this.deps.broker.consumerCount(vhost, q, 1);
    if (f.nowait !== true) this.sendMethod(ch.id, Method.BasicConsumeOk, { consumerTag: tag });
    void this.runConsumer(ch, consumer);
  }

  private room(ch: Channel, c: Consumer): number {
    if (ch.prefetch === 0) return CONSUME_BATCH;
    const used = ch.prefetchGlobal ? ch.unacked.size : c.unacked;
    return Math.min(CONSUME_BATCH, ch.prefetch - used);
  }

  private live(ch: Channel, c: Consumer): boolean {
    return c.active && ch.state === "open" && this.state === "running" && this.channels.get(ch.id) === ch;
  }

  /** One consumer's loop: long polls of its queue's group while it has room under the prefetch. */
  private async runConsumer(ch: Channel, c: Consumer): Promise<void> {
    try {
      await this.consumerLoop(ch, c);
    } catch (error) {
      this.deps.log.error("amqp-consumer-failed", { connection: this.id, channel: ch.id, queue: c.queue.name, error: String(error) });
      await this.stopConsumer(ch, c).catch(() => undefined);
      if (ch.state === "open" && this.state === "running") this.sendMethod(ch.id, Method.BasicCancel, { consumerTag: c.tag, nowait: true });
    }
  }

  private async consumerLoop(ch: Channel, c: Consumer): Promise<void> {
    const { broker, clock, log } = this.deps;
    while (this.live(ch, c)) {
      const pressure = (this.deps.pendingBytes?.() ?? 0) > this.limits.outboundHighWaterBytes;
      const room = c.noAck ? CONSUME_BATCH : this.room(ch, c);
      if (room <= 0 || pressure) {
        await new Promise<void>((resolve) => {
          c.wake = resolve;
          if (pressure) void clock.sleep(20, c.abort.signal).then(resolve);
        });
        c.wake = undefined;
        continue;
      }
      let got: AmqpMessage[];
      try {
        got = await broker.consume(c.queue, room, this.limits.consumeWaitSeconds, this.limits.deliveryLeaseSeconds, c.abort.signal);
      } catch (error) {
        log.warn("amqp-consume-failed", { connection: this.id, queue: c.queue.name, error: String(error) });
        await clock.sleep(1000, c.abort.signal);
        continue;
      }
      for (const m of got) {
        if (!this.live(ch, c)) {
          // Cancelled or closed while the poll was answered: what it took goes back at once.
          void broker.nack(m.topic, m.receiptHandle, true).catch(() => undefined);
          continue;
        }
        const tag = ch.nextTag++;
        const frames = this.deliveryFrames(ch, Method.BasicDeliver, { consumerTag: c.tag, deliveryTag: tag, redelivered: m.redelivered, exchange: m.exchange, routingKey: m.routingKey }, m);
        if (!frames) continue;
        this.write(frames);
        if (c.noAck) this.track(ch, broker.ack(m.topic, m.receiptHandle));
        else {
          ch.unacked.set(tag, { topic: m.topic, receiptHandle: m.receiptHandle, consumer: c, heldUntilMs: this.leaseEndMs(), renewing: false });
          c.unacked++;
        }
      }
      if (this.live(ch, c) && !(this.deps.broker.vhostHasQueue(this.vhost as Vhost, c.queue))) {
        // The queue was deleted: the consumer is cancelled and told so.
        await this.stopConsumer(ch, c);
        if (ch.state === "open") this.sendMethod(ch.id, Method.BasicCancel, { consumerTag: c.tag, nowait: true });
      }
    }
  }

  private track(ch: Channel, p: Promise<unknown>): void {
    const done = p
      .catch((error: unknown) => this.deps.log.warn("amqp-settle-failed", { connection: this.id, channel: ch.id, error: String(error) }))
      .finally(() => ch.inflight.delete(done));
    ch.inflight.add(done);
  }

  private async stopConsumer(ch: Channel, c: Consumer): Promise<void> {
    if (!c.active) return;
    c.active = false;
    c.abort.abort();
    c.wake?.();
    ch.consumers.delete(c.tag);
    await this.deps.broker.consumerCount(this.vhost as Vhost, c.queue, -1).catch(() => undefined);
  }

  private async get(ch: Channel, f: Record<string, unknown>): Promise<void> {
    const q = await this.deps.broker.locateQueue(this.vhost as Vhost, this.queueName(ch, f.queue), this.id);
    const [m] = await this.deps.broker.consume(q, 1, 0, this.limits.deliveryLeaseSeconds);
    if (!m) return this.sendMethod(ch.id, Method.BasicGetEmpty, { clusterId: "" });
    if (ch.state !== "open" || this.state !== "running") {
      await this.deps.broker.nack(m.topic, m.receiptHandle, true);
      return;
    }
    const tag = ch.nextTag++;
    const frames = this.deliveryFrames(ch, Method.BasicGetOk, { deliveryTag: tag, redelivered: m.redelivered, exchange: m.exchange, routingKey: m.routingKey, messageCount: 0 }, m);
    if (!frames) return this.sendMethod(ch.id, Method.BasicGetEmpty, { clusterId: "" });
    this.write(frames);
    if (f.noAck === true) this.track(ch, this.deps.broker.ack(m.topic, m.receiptHandle));
    else ch.unacked.set(tag, { topic: m.topic, receiptHandle: m.receiptHandle, consumer: undefined, heldUntilMs: this.leaseEndMs(), renewing: false });
  }

  /**
   * tx.commit: the transaction's publishes stored in order (routed now, as RabbitMQ routes them at
   * commit), then its settlements applied. A publish the queue refuses closes the channel (the
   * transaction is not committed past it).
   */
  private async commit(ch: Channel): Promise<void> {
    if (!ch.tx) throw new AmqpError(Reply.PreconditionFailed, "PRECONDITION_FAILED - channel is not transactional");
    const publishes = ch.txPublishes;
    ch.txPublishes = [];
    for (const p of publishes) {
      const outcome = await this.deps.broker.publish(this.vhost as Vhost, p);
      if (p.mandatory && outcome.queues.length === 0 && ch.state === "open") {
        this.sendMethod(ch.id, Method.BasicReturn, { replyCode: Reply.NoRoute, replyText: "NO_ROUTE", exchange: p.exchange, routingKey: p.routingKey });
        this.sendContent(ch.id, p.rawProperties, p.properties, p.body);
      }
    }
    const settled = [...ch.unacked].filter(([, u]) => u.txSettled !== undefined);
    const broker = this.deps.broker;
    await Promise.all(
      settled.map(([t, u]) => {
        ch.unacked.delete(t);
        if (u.consumer) u.consumer.unacked--;
        return u.txSettled === "ack" ? broker.ack(u.topic, u.receiptHandle) : broker.nack(u.topic, u.receiptHandle, u.txSettled === "requeue");
      }),
    );
    for (const c of ch.consumers.values()) c.wake?.();
  }

  private settle(ch: Channel, deliveryTag: number, multiple: boolean, how: "ack" | "requeue" | "reject"): void {
    let tags: number[];
    if (multiple) {
      tags = [...ch.unacked].filter(([t, u]) => (deliveryTag === 0 || t <= deliveryTag) && u.txSettled === undefined).map(([t]) => t);
    } else {
      if (ch.unacked.get(deliveryTag)?.txSettled !== undefined || !ch.unacked.has(deliveryTag)) {
        throw new AmqpError(Reply.PreconditionFailed, `PRECONDITION_FAILED - unknown delivery tag ${deliveryTag}`);
      }
      tags = [deliveryTag];
    }
    if (ch.tx) {
      for (const t of tags) (ch.unacked.get(t) as Unacked).txSettled = how;
      return;
    }
    for (const t of tags) {
      const u = ch.unacked.get(t) as Unacked;
      ch.unacked.delete(t);
      if (u.consumer) u.consumer.unacked--;
      const broker = this.deps.broker;
      this.track(ch, how === "ack" ? broker.ack(u.topic, u.receiptHandle) : broker.nack(u.topic, u.receiptHandle, how === "requeue"));
    }
    for (const c of ch.consumers.values()) c.wake?.();
  }

  private requeueAll(ch: Channel): void {
    for (const [t, u] of ch.unacked) {
      ch.unacked.delete(t);
      if (u.consumer) u.consumer.unacked--;
      this.track(ch, this.deps.broker.nack(u.topic, u.receiptHandle, true));
    }
    for (const c of ch.consumers.values()) c.wake?.();
  }

  /** A closing channel: its consumers stop, its unacked deliveries go back (redelivered), its publishes finish. */
  private async releaseChannel(ch: Channel): Promise<void> {
    for (const c of [...ch.consumers.values()]) await this.stopConsumer(ch, c);
    this.requeueAll(ch);
    await Promise.allSettled([...ch.inflight]);
  }

  private async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    const channels = [...this.channels.values()];
    for (const ch of channels) ch.state = "closing";
    await Promise.allSettled(channels.map((ch) => this.releaseChannel(ch)));
    this.channels.clear();
    if (this.vhost) await this.deps.broker.connectionClosed(this.vhost, this.id).catch(() => undefined);
  }
}

/** PLAIN (`\0user\0password`) or AMQPLAIN (a table of LOGIN and PASSWORD) credentials; undefined when unreadable. */
export function readCredentials(mechanism: string, response: Buffer | undefined): { user: string; password: string } | undefined {
  if (!Buffer.isBuffer(response)) return undefined;
  if (mechanism === "PLAIN") {
    const parts = response.toString("utf8").split("\0");
    if (parts.length !== 3) return undefined;
    return { user: parts[1] as string, password: parts[2] as string };
  }
  if (mechanism === "AMQPLAIN") {
    try {
      const table = decodeTableFields(response);
      const user = table.LOGIN;
      const password = table.PASSWORD;
      const text = (v: unknown) => (typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString("utf8") : undefined);
      const u = text(user);
      const p = text(password);
      return u !== undefined && p !== undefined ? { user: u, password: p } : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
