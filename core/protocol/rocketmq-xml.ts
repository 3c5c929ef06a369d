import { XMLParser, XMLValidator } from "fast-xml-parser";
import type { AckFailure, PublishResult, ReceivedMessage } from "../message.js";
import { TimingConvention } from "../delay-limit.js";
import { LIMITS, type Timing } from "../rules.js";
import { MqErrorCode, MqProtocolError, malformedXml, mqInvalid } from "./rocketmq-errors.js";
import { quote } from "../errors.js";
import { REQUEST_BODY_LIMIT_BYTES } from "../http/body.js";

/**
 * Pure codec of the RocketMQ HTTP protocol (x-mq-version 2015-06-06, see shared/protocols/rocketmq-http.md):
 * request XML → commands, results → response XML. Elements are matched by local name in any order;
 * text may be entity-escaped or CDATA. No DTD is read and no entity beyond the five predefined ones and
 * character references is expanded.
 */

export const MQ_VERSION = "2015-06-06";
/** Namespace of success bodies (with the trailing slash). */
export const MQ_NAMESPACE = "http://mq.aliyuncs.com/doc/v1/";
/** Namespace of `<Error>` bodies (without the trailing slash: Java's error parser needs exactly this). */
export const MQ_ERROR_NAMESPACE = "http://mq.aliyuncs.com/doc/v1";
export const XML_CONTENT_TYPE = "text/xml;charset=utf-8";

/** Largest request body read: a 256 KiB message body fully entity-escaped fits with room to spare. */
export const MAX_REQUEST_BYTES = REQUEST_BODY_LIMIT_BYTES;
const MAX_ELEMENTS = 200;
const MAX_DEPTH = 8;

export const Reserved = {
  keys: "KEYS",
  startDeliverTime: "__STARTDELIVERTIME",
  transCheck: "__TransCheckT",
  shardingKey: "__SHARDINGKEY",
} as const;

/** A publish as the XML door hands it to the queue (topic added by the door). */
export interface MqPublish {
  body: string;
  tag?: string;
  key?: string;
  properties: Record<string, string>;
  timing: Timing;
}

/** An element by local name, with the concatenated decoded text of its text and CDATA children. */
export interface XmlElement {
  name: string;
  text: string;
  children: XmlElement[];
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  cdataPropName: "__cdata",
  commentPropName: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_DEPTH,
});

/** XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]. */
const ILLEGAL_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

export function isXmlChar(codePoint: number): boolean {
  return (
    codePoint === 0x9 ||
    codePoint === 0xa ||
    codePoint === 0xd ||
    (codePoint >= 0x20 && codePoint <= 0xd7ff) ||
    (codePoint >= 0xe000 && codePoint <= 0xfffd) ||
    (codePoint >= 0x10000 && codePoint <= 0x10ffff)
  );
}

function describeChar(text: string): string {
  const cp = text.codePointAt(0) ?? 0;
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** UTF-8 bytes → text; invalid UTF-8 or an over-long body is refused before any parsing. */
export function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.byteLength > MAX_REQUEST_BYTES) {
    throw new MqProtocolError(MqErrorCode.RequestTooLarge, `request body is ${bytes.byteLength} bytes; the limit is ${MAX_REQUEST_BYTES} bytes`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw malformedXml("request body is not valid UTF-8");
  }
}

const PREDEFINED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decodes the five predefined entities and character references; anything else is malformed. */
export function decodeText(raw: string): string {
  return raw.replace(/&([^;&\s]{0,10});?/g, (match, ref: string) => {
    if (!match.endsWith(";")) throw malformedXml(`unterminated entity reference "${match}"`);
    const named = Object.hasOwn(PREDEFINED, ref) ? PREDEFINED[ref] : undefined;
    if (named !== undefined) return named;
    const numeric = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
    if (!numeric) throw malformedXml(`entity "&${ref};" is not allowed: only &amp; &lt; &gt; &quot; &apos; and character references`);
    const cp = numeric[1] !== undefined ? Number.parseInt(numeric[1], 16) : Number(numeric[2]);
    if (!isXmlChar(cp)) throw malformedXml(`character reference "&${ref};" is not a character allowed in XML 1.0`);
    return String.fromCodePoint(cp);
  });
}

type OrderedNode = Record<string, unknown>;

function toElements(nodes: unknown, depth: number, count: { n: number }): { elements: XmlElement[]; text: string } {
  const elements: XmlElement[] = [];
  let text = "";
  if (!Array.isArray(nodes)) return { elements, text };
  for (const node of nodes as OrderedNode[]) {
    for (const [key, value] of Object.entries(node)) {
      if (key === ":@") continue;
      if (key === "#text") {
        text += decodeText(String(value));
      } else if (key === "__cdata") {
        if (Array.isArray(value)) for (const part of value as OrderedNode[]) text += String(part["#text"] ?? "");
      } else {
        if (++count.n > MAX_ELEMENTS) throw malformedXml(`more than ${MAX_ELEMENTS} elements`);
        if (depth >= MAX_DEPTH) throw malformedXml(`elements nested deeper than ${MAX_DEPTH}`);
        const inner = toElements(value, depth + 1, count);
        elements.push({ name: key, text: inner.text, children: inner.elements });
      }
    }
  }
  return { elements, text };
}

/**
 * Refuses every markup declaration (`<!DOCTYPE`, `<!ENTITY`, `<!ELEMENT`, …) wherever it is, reading the
 * document in order: only comments and CDATA sections may start with `<!`, and their contents are
 * skipped as a parser skips them, so a declaration cannot hide behind a comment or a CDATA lookalike.
 */
export function assertNoDeclarations(text: string): void {
  let at = text.indexOf("<!");
  while (at >= 0) {
    let end: number;
    if (text.startsWith("<!--", at)) end = text.indexOf("-->", at + 4) + 3;
    else if (text.startsWith("<![CDATA[", at)) end = text.indexOf("]]>", at + 9) + 3;
    else throw malformedXml("DOCTYPE, ENTITY and other markup declarations are not accepted; send the document without them");
    if (end < 3) throw malformedXml("request body is not well-formed XML: an unterminated comment or CDATA section");
    at = text.indexOf("<!", end);
  }
}

/** Parses one XML document to its root element. DOCTYPE/ENTITY declarations are refused. */
export function parseXml(xml: string): XmlElement {
  if (Buffer.byteLength(xml, "utf8") > MAX_REQUEST_BYTES) {
    throw new MqProtocolError(MqErrorCode.RequestTooLarge, `request body is larger than ${MAX_REQUEST_BYTES} bytes`);
  }
  const text = xml.startsWith("\uFEFF") ? xml.slice(1) : xml;
  const illegal = ILLEGAL_XML_CHAR.exec(text);
  if (illegal) throw malformedXml(`character ${describeChar(illegal[0])} is not allowed in XML 1.0 and cannot be carried`);
  assertNoDeclarations(text);
  if (text.trim() === "") throw malformedXml("request body is empty; send an XML document");
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw malformedXml(`request body is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  let parsed: unknown;
  try {
    parsed = parser.parse(text);
  } catch (error) {
    throw malformedXml(`request body is not well-formed XML: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { elements } = toElements(parsed, 0, { n: 0 });
  const root = elements[0];
  if (!root || elements.length !== 1) throw malformedXml("request body must have exactly one root element");
  return root;
}

function child(parent: XmlElement, name: string): XmlElement | undefined {
  const found = parent.children.filter((c) => c.name === name);
  if (found.length > 1) throw malformedXml(`<${name}> appears ${found.length} times in <${parent.name}>; send it once`);
  return found[0];
}

/**
 * `k:v|k:v|` → pairs, in any order, with or without a trailing `|`; empty items (`||`) are framing and
 * skipped. An item that is not exactly `name:value` with both parts non-empty (`:v`, `k:`, `a:b:c`, `k`)
 * is refused with a 400 naming it, never dropped, and so is the name `__proto__`.
 */
export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split("|")) {
    if (item === "") continue;
    const parts = item.split(":");
    const [k, v] = parts;
    if (parts.length !== 2 || !k || !v) {
      throw mqInvalid(`property ${quote(item)} is not name:value with a non-empty name and value (neither may contain : or |); send Properties as k1:v1|k2:v2|`);
    }
    if (k === "__proto__") throw mqInvalid('the property name "__proto__" cannot be stored; rename the property');
    out[k] = v;
  }
  return out;
}

const FORBIDDEN_PROPERTY_CHARS = /['"<>&:|]/;

function assertPropertyText(kind: "key" | "value", name: string, text: string): void {
  if (FORBIDDEN_PROPERTY_CHARS.test(text)) {
    throw mqInvalid(`property ${kind} ${quote(kind === "key" ? text : name)} contains one of ' " < > & : | which properties may not contain`);
  }
}

/** `<Message><MessageBody/>[<MessageTag/>][<Properties/>]</Message>` → a publish. */
export function decodePublishXml(xml: string): MqPublish {
  const root = parseXml(xml);
  if (root.name !== "Message") throw malformedXml(`expected a <Message> document; got <${root.name}>`);
  const body = child(root, "MessageBody");
  if (!body) throw mqInvalid("<MessageBody> is required");
  if (body.text === "") throw mqInvalid("<MessageBody> must not be empty");
  const tagText = child(root, "MessageTag")?.text;
  const propsText = child(root, "Properties")?.text ?? "";
  const all = parseProperties(propsText);

  if (all[Reserved.transCheck] !== undefined) {
    throw mqInvalid(`transactional messages (${Reserved.transCheck}) are not supported yet; publish without it`);
  }
  if (all[Reserved.shardingKey] !== undefined) {
    throw mqInvalid(`ordered messages (${Reserved.shardingKey}) are not supported yet; publish without a sharding key`);
  }
  let timing: Timing = { kind: "now" };
  const start = all[Reserved.startDeliverTime];
  if (start !== undefined) {
    if (!/^\d{1,16}$/.test(start) || !Number.isSafeInteger(Number(start))) {
      throw mqInvalid(`${Reserved.startDeliverTime} must be an absolute time in epoch milliseconds; got ${quote(start)}`);
    }
    timing = { kind: "at", deliverAtMs: Number(start), source: Reserved.startDeliverTime, convention: TimingConvention.RocketMQ };
  }
  const key = all[Reserved.keys];
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k === Reserved.keys || k === Reserved.startDeliverTime) continue;
    assertPropertyText("key", k, k);
    assertPropertyText("value", k, v);
    properties[k] = v;
  }
  return {
    body: body.text,
    ...(tagText !== undefined && tagText !== "" && { tag: tagText }),
    ...(key !== undefined && { key }),
    properties,
    timing,
  };
}

/** `<ReceiptHandles><ReceiptHandle>h</ReceiptHandle>…</ReceiptHandles>` → 1..16 handles. */
export function decodeAckXml(xml: string): string[] {
  const root = parseXml(xml);
  if (root.name !== "ReceiptHandles") throw malformedXml(`expected a <ReceiptHandles> document; got <${root.name}>`);
  const handles = root.children.filter((c) => c.name === "ReceiptHandle").map((c) => c.text.trim());
  if (handles.length === 0 || handles.every((h) => h === "")) {
    throw new MqProtocolError(MqErrorCode.MissingReceiptHandle, "send 1-16 <ReceiptHandle> elements");
  }
  if (handles.length > LIMITS.batchMax) {
    throw mqInvalid(`at most ${LIMITS.batchMax} receipt handles per ack; got ${handles.length}`);
  }
  return handles;
}

/** Escapes text for element content; `\r` as a character reference so parsers do not fold line ends. */
export function escapeXml(text: string): string {
  let out = "";
  for (const ch of text) {
    switch (ch) {
      case "&":
        out += "&amp;";
        break;
      case "<":
        out += "&lt;";
        break;
      case ">":
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case "'":
        out += "&apos;";
        break;
      case "\r":
        out += "&#13;";
        break;
      default:
        out += isXmlChar(ch.codePointAt(0) ?? 0) ? ch : "\uFFFD";
    }
  }
  return out;
}

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

function el(name: string, value: string | number): string {
  return `<${name}>${typeof value === "number" ? String(value) : escapeXml(value)}</${name}>`;
}

export function encodePublishXml(result: Pick<PublishResult, "messageId" | "bodyMd5">): string {
  return `${DECLARATION}<Message xmlns="${MQ_NAMESPACE}">${el("MessageId", result.messageId)}${el("MessageBodyMD5", result.bodyMd5)}</Message>`;
}

function wireSafe(text: string): boolean {
  return text !== "" && !/[:|]/.test(text);
}

/** Properties as the SDKs read them: user pairs, then `KEYS` and `__STARTDELIVERTIME` when set, each `k:v|`. */
export function encodeProperties(m: Pick<ReceivedMessage, "properties" | "key" | "publishedAtMs" | "deliverAtMs">): string {
  let out = "";
  for (const [k, v] of Object.entries(m.properties)) {
    if (k === Reserved.keys || k === Reserved.startDeliverTime) continue;
    if (wireSafe(k) && wireSafe(v)) out += `${k}:${v}|`;
  }
  if (m.key !== undefined && wireSafe(m.key)) out += `${Reserved.keys}:${m.key}|`;
  if (m.deliverAtMs > m.publishedAtMs) out += `${Reserved.startDeliverTime}:${m.deliverAtMs}|`;
  return out;
}

export function encodeMessageXml(m: ReceivedMessage): string {
  return (
    "<Message>" +
    el("MessageId", m.messageId) +
    el("ReceiptHandle", m.receiptHandle) +
    el("MessageBodyMD5", m.bodyMd5) +
    el("MessageBody", m.body) +
    el("PublishTime", m.publishedAtMs) +
    el("NextConsumeTime", m.nextVisibleAtMs) +
    el("FirstConsumeTime", m.firstConsumedAtMs) +
    el("ConsumedTimes", m.consumedTimes) +
    el("MessageTag", m.tag ?? "") +
    el("Properties", encodeProperties(m)) +
    "</Message>"
  );
}

export function encodeMessagesXml(messages: readonly ReceivedMessage[]): string {
  return `${DECLARATION}<Messages xmlns="${MQ_NAMESPACE}">${messages.map(encodeMessageXml).join("")}</Messages>`;
}

/** Per-handle ack failures: one `<Error>` each, all three fields non-empty. */
export function encodeAckErrorsXml(failures: readonly AckFailure[]): string {
  const items = failures
    .map(
      (f) =>
        `<Error>${el("ErrorCode", f.code)}${el("ErrorMessage", f.message || f.code)}${el("ReceiptHandle", f.receiptHandle || "(empty)")}</Error>`,
    )
    .join("");
  return `${DECLARATION}<Errors xmlns="${MQ_NAMESPACE}">${items}</Errors>`;
}

export interface MqErrorBody {
  code: string;
  message: string;
  requestId: string;
  hostId: string;
}

export function encodeErrorXml(e: MqErrorBody): string {
  return (
    `${DECLARATION}<Error xmlns="${MQ_ERROR_NAMESPACE}">` +
    el("Code", e.code) +
    el("Message", e.message || e.code) +
    el("RequestId", e.requestId) +
    el("HostId", e.hostId) +
    "</Error>"
  );
}
