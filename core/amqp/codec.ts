import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * A small typed facade over amqplib's spec-generated AMQP 0-9-1 codec (`lib/defs.js`, `lib/frame.js`,
 * `lib/codec.js`; MIT, © Michael Bridgen and contributors). amqplib does not export these files, so they
 * are loaded by path from the exactly pinned dependency: the method and property codecs are generated
 * from the protocol's XML specification, and nothing of them is written by hand here.
 */

interface AmqplibDefs {
  constants: Record<string, number>;
  decode(id: number, buf: Buffer): Record<string, unknown>;
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  info(id: number): { name: string; classId?: number; methodId?: number } | undefined;
}

interface RawFrame {
  type: number;
  channel: number;
  size: number;
  payload: Buffer;
  rest: Buffer;
}

interface AmqplibFrame {
  PROTOCOL_HEADER: string;
  parseFrame(bin: Buffer, max: number): RawFrame | false;
  makeBodyFrame(channel: number, payload: Buffer): Buffer;
  HEARTBEAT_BUF: Buffer;
}

interface AmqplibCodec {
  decodeFields(slice: Buffer): Record<string, unknown>;
}

const require = createRequire(import.meta.url);
const root = dirname(require.resolve("amqplib"));
const defs = require(join(root, "lib", "defs.js")) as AmqplibDefs;
const frame = require(join(root, "lib", "frame.js")) as AmqplibFrame;
const codec = require(join(root, "lib", "codec.js")) as AmqplibCodec;

export const PROTOCOL_HEADER = Buffer.from(frame.PROTOCOL_HEADER, "latin1");
export const HEARTBEAT_FRAME: Buffer = frame.HEARTBEAT_BUF;
/** Bytes of a frame besides its payload: type, channel, size and frame-end. */
export const FRAME_OVERHEAD = 8;
export const FRAME_MIN_SIZE = 4096;

export const FrameType = { Method: 1, Header: 2, Body: 3, Heartbeat: 8 } as const;

/** Reply codes of the specification. */
export const Reply = {
  Success: 200,
  NoRoute: 312,
  ConnectionForced: 320,
  AccessRefused: 403,
  NotFound: 404,
  ResourceLocked: 405,
  PreconditionFailed: 406,
  FrameError: 501,
  SyntaxError: 502,
  CommandInvalid: 503,
  ChannelError: 504,
  UnexpectedFrame: 505,
  ResourceError: 506,
  NotAllowed: 530,
  NotImplemented: 540,
  InternalError: 541,
} as const;

/** Method ids as amqplib numbers them: class id × 65536 + method id. */
export const Method = {
  ConnectionStart: 0x000a000a,
  ConnectionStartOk: 0x000a000b,
  ConnectionSecure: 0x000a0014,
  ConnectionSecureOk: 0x000a0015,
  ConnectionTune: 0x000a001e,
  ConnectionTuneOk: 0x000a001f,
  ConnectionOpen: 0x000a0028,
  ConnectionOpenOk: 0x000a0029,
  ConnectionClose: 0x000a0032,
  ConnectionCloseOk: 0x000a0033,
  ConnectionBlocked: 0x000a003c,
  ConnectionUnblocked: 0x000a003d,
  ConnectionUpdateSecret: 0x000a0046,
  ChannelOpen: 0x0014000a,
  ChannelOpenOk: 0x0014000b,
  ChannelFlow: 0x00140014,
  ChannelFlowOk: 0x00140015,
  ChannelClose: 0x00140028,
  ChannelCloseOk: 0x00140029,
  AccessRequest: 0x001e000a,
  AccessRequestOk: 0x001e000b,
  ExchangeDeclare: 0x0028000a,
  ExchangeDeclareOk: 0x0028000b,
  ExchangeDelete: 0x00280014,
  ExchangeDeleteOk: 0x00280015,
  ExchangeBind: 0x0028001e,
  ExchangeBindOk: 0x0028001f,
  ExchangeUnbind: 0x00280028,
  ExchangeUnbindOk: 0x00280033,
  QueueDeclare: 0x0032000a,
  QueueDeclareOk: 0x0032000b,
  QueueBind: 0x00320014,
  QueueBindOk: 0x00320015,
  QueuePurge: 0x0032001e,
  QueuePurgeOk: 0x0032001f,
  QueueDelete: 0x00320028,
  QueueDeleteOk: 0x00320029,
  QueueUnbind: 0x00320032,
  QueueUnbindOk: 0x00320033,
  BasicQos: 0x003c000a,
  BasicQosOk: 0x003c000b,
  BasicConsume: 0x003c0014,
  BasicConsumeOk: 0x003c0015,
  BasicCancel: 0x003c001e,
  BasicCancelOk: 0x003c001f,
  BasicPublish: 0x003c0028,
  BasicReturn: 0x003c0032,
  BasicDeliver: 0x003c003c,
  BasicGet: 0x003c0046,
  BasicGetOk: 0x003c0047,
  BasicGetEmpty: 0x003c0048,
  BasicAck: 0x003c0050,
  BasicReject: 0x003c005a,
  BasicRecoverAsync: 0x003c0064,
  BasicRecover: 0x003c006e,
  BasicRecoverOk: 0x003c006f,
  BasicNack: 0x003c0078,
  TxSelect: 0x005a000a,
  TxSelectOk: 0x005a000b,
  TxCommit: 0x005a0014,
  TxCommitOk: 0x005a0015,
  TxRollback: 0x005a001e,
  TxRollbackOk: 0x005a001f,
  ConfirmSelect: 0x0055000a,
  ConfirmSelectOk: 0x0055000b,
} as const;

export const BASIC_CLASS = 60;

/** The basic content properties, as amqplib decodes them (a table's values as JS values). */
export interface BasicProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: Record<string, unknown>;
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  clusterId?: string;
}

export type Frame =
  | { type: typeof FrameType.Method; channel: number; id: number; fields: Record<string, unknown> }
  | { type: typeof FrameType.Header; channel: number; classId: number; bodySize: number; properties: BasicProperties; raw: Buffer }
  | { type: typeof FrameType.Body; channel: number; content: Buffer }
  | { type: typeof FrameType.Heartbeat; channel: number };

/** A frame the reader could not take; `code` is the connection exception it calls for. */
export class FrameError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Splits the next whole frame off `buffer`: undefined until one has arrived. A frame above `maxBytes`
 * (payload + 8), a wrong frame-end, an unknown frame type or an undecodable payload throws FrameError.
 */
export function readFrame(buffer: Buffer, maxBytes: number): { frame: Frame; rest: Buffer } | undefined {
  if (buffer.length >= 7) {
    const size = buffer.readUInt32BE(3);
    if (size + FRAME_OVERHEAD > maxBytes) throw new FrameError(Reply.FrameError, `frame of ${size + FRAME_OVERHEAD} bytes exceeds the negotiated frame-max of ${maxBytes}`);
  }
  let raw: RawFrame | false;
  try {
    raw = frame.parseFrame(buffer, 0);
  } catch (error) {
    throw new FrameError(Reply.FrameError, `malformed frame: ${(error as Error).message}`);
  }
  if (!raw) return undefined;
  return { frame: decode(raw), rest: raw.rest };
}

function decode(raw: RawFrame): Frame {
  const { payload, channel } = raw;
  try {
    switch (raw.type) {
      case FrameType.Method: {
        if (payload.length < 4) throw new Error("method frame shorter than its id");
        const id = payload.readUInt32BE(0);
        if (!defs.info(id)) throw new FrameError(Reply.CommandInvalid, `unknown method ${id >>> 16}.${id & 0xffff}`);
        return { type: FrameType.Method, channel, id, fields: defs.decode(id, payload.subarray(4)) };
      }
      case FrameType.Header: {
        if (payload.length < 14) throw new Error("content header shorter than 14 bytes");
        const classId = payload.readUInt16BE(0);
        const bodySize = Number(payload.readBigUInt64BE(4));
        const rawProps = payload.subarray(12);
        if (classId !== BASIC_CLASS) throw new FrameError(Reply.FrameError, `content header of class ${classId}; only basic (60) has content`);
        return { type: FrameType.Header, channel, classId, bodySize, properties: defs.decode(BASIC_CLASS, rawProps) as BasicProperties, raw: Buffer.from(rawProps) };
      }
      case FrameType.Body:
        return { type: FrameType.Body, channel, content: payload };
      case FrameType.Heartbeat:
        return { type: FrameType.Heartbeat, channel };
      default:
        throw new FrameError(Reply.FrameError, `unknown frame type ${raw.type}`);
    }
  } catch (error) {
    if (error instanceof FrameError) throw error;
    throw new FrameError(Reply.FrameError, `undecodable frame: ${(error as Error).message}`);
  }
}

export function encodeMethod(channel: number, id: number, fields: Record<string, unknown>): Buffer {
  return defs.encodeMethod(id, channel, fields);
}

/** A content header frame from properties (encoded by amqplib). */
export function encodeHeader(channel: number, bodySize: number, properties: BasicProperties): Buffer {
  return defs.encodeProperties(BASIC_CLASS, channel, bodySize, properties as Record<string, unknown>);
}

/** A content header frame carrying properties exactly as a publisher sent them (flags and fields, unchanged). */
export function encodeRawHeader(channel: number, bodySize: number, rawProperties: Buffer): Buffer {
  const out = Buffer.alloc(7 + 12 + rawProperties.length + 1);
  out.writeUInt8(FrameType.Header, 0);
  out.writeUInt16BE(channel, 1);
  out.writeUInt32BE(12 + rawProperties.length, 3);
  out.writeUInt16BE(BASIC_CLASS, 7);
  out.writeUInt16BE(0, 9);
  out.writeBigUInt64BE(BigInt(bodySize), 11);
  rawProperties.copy(out, 19);
  out.writeUInt8(0xce, out.length - 1);
  return out;
}

export function encodeBody(channel: number, content: Buffer): Buffer {
  return frame.makeBodyFrame(channel, content);
}

/** A properties section (flags and fields) as a publisher would send it, from decoded properties. */
export function encodeProperties(properties: BasicProperties): Buffer {
  const header = encodeHeader(0, 0, properties);
  return Buffer.from(header.subarray(19, header.length - 1));
}

/** Decodes a raw properties section (as kept by encodeRawHeader's callers). */
export function decodeProperties(raw: Buffer): BasicProperties {
  return defs.decode(BASIC_CLASS, raw) as BasicProperties;
}

/** A field table without its length prefix (the AMQPLAIN response). */
export function decodeTableFields(slice: Buffer): Record<string, unknown> {
  return codec.decodeFields(slice);
}

export function methodName(id: number): string {
  return defs.info(id)?.name ?? `method ${id >>> 16}.${id & 0xffff}`;
}
