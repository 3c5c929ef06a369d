import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ReceivedMessage } from "../../core/message.js";
import { MqProtocolError } from "../../core/protocol/rocketmq-errors.js";
import {
  decodeAckXml,
  decodePublishXml,
  decodeUtf8,
  encodeAckErrorsXml,
  encodeErrorXml,
  encodeMessagesXml,
  encodePublishXml,
  escapeXml,
  parseProperties,
} from "../../core/protocol/rocketmq-xml.js";

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/rocketmq/${name}`, import.meta.url), "utf8");

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof MqProtocolError) return error.code;
    if (error instanceof Error && "code" in error) return String((error as { code: unknown }).code);
    throw error;
  }
  return undefined;
}

const BODY = "hello <world> & \"quotes\" 'it'\nline2\ttab";

describe("RocketMQ XML codec: requests of each SDK", () => {
  it.each(["go", "node", "java", "python"])("decodes the %s SDK's publish body", (sdk) => {
    // Prepare
    const xml = fixture(`publish-${sdk}.xml`);
    // Act
    const publish = decodePublishXml(xml);
    // Assess
    expect(publish).toEqual({
      body: BODY,
      tag: "TagA",
      key: "order-1",
      properties: { region: "hz" },
      timing: { kind: "at", deliverAtMs: 1767225603000, source: "__STARTDELIVERTIME", convention: "rocketmq" },
    });
  });

  it.each(["go", "node", "java", "python"])("decodes the %s SDK's ack body", (sdk) => {
    expect(decodeAckXml(fixture(`ack-${sdk}.xml`))).toEqual(["h-1", "h-2"]);
  });

  it("ignores namespace prefixes and reads a message without tag or properties", () => {
    const xml = '<mq:Message xmlns:mq="http://mq.aliyuncs.com/doc/v1/"><mq:MessageBody>  padded  </mq:MessageBody></mq:Message>';
    expect(decodePublishXml(xml)).toEqual({ body: "  padded  ", properties: {}, timing: { kind: "now" } });
  });

  it("joins split CDATA sections and escaped text in order", () => {
    const xml = "<Message><MessageBody>a&amp;<![CDATA[<b>]]]]><![CDATA[>]]>c</MessageBody></Message>";
    expect(decodePublishXml(xml).body).toBe("a&<b>]]>c");
  });

  it("parses Properties in any order, with or without a trailing |, and refuses malformed items instead of dropping them", () => {
    expect(parseProperties("a:1|b:2")).toEqual({ a: "1", b: "2" });
    expect(parseProperties("|a:1||h:2|")).toEqual({ a: "1", h: "2" });
    expect(parseProperties("")).toEqual({});
    expect(parseProperties("constructor:c|")).toEqual({ constructor: "c" });
    for (const item of ["b:", ":c", "d:e:f", "g", "__proto__:x"]) {
      expect(codeOf(() => parseProperties(`a:1|${item}|`)), item).toBe("InvalidArgument");
    }
  });

  it("refuses DOCTYPE and ENTITY declarations as MalformedXML", () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><Message><MessageBody>&x;</MessageBody></Message>';
    const bomb = '<!DOCTYPE m [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Message><MessageBody>&b;</MessageBody></Message>';
    expect(codeOf(() => decodePublishXml(xxe))).toBe("MalformedXML");
    expect(codeOf(() => decodePublishXml(bomb))).toBe("MalformedXML");
  });

  it("accepts the text <!DOCTYPE inside CDATA as data", () => {
    expect(decodePublishXml("<Message><MessageBody><![CDATA[<!DOCTYPE html>]]></MessageBody></Message>").body).toBe("<!DOCTYPE html>");
  });

  it("answers MalformedXML for broken documents and unknown entities", () => {
    for (const xml of [
      "",
      "not xml",
      "<Message><MessageBody>a</MessageBod></Message>",
      "<Message><MessageBody>a & b</MessageBody></Message>",
      "<Message><MessageBody>&nbsp;</MessageBody></Message>",
      "<Message><MessageBody>a</MessageBody></Message><Message/>",
    ]) {
      expect(codeOf(() => decodePublishXml(xml)), xml).toBe("MalformedXML");
    }
  });

  it("rejects characters that XML 1.0 cannot carry, raw or as references", () => {
    expect(codeOf(() => decodePublishXml("<Message><MessageBody><![CDATA[a\u0001b]]></MessageBody></Message>"))).toBe("MalformedXML");
    expect(codeOf(() => decodePublishXml("<Message><MessageBody>a&#1;b</MessageBody></Message>"))).toBe("MalformedXML");
    expect(codeOf(() => decodePublishXml("<Message><MessageBody>a&#xFFFE;b</MessageBody></Message>"))).toBe("MalformedXML");
  });

  it("rejects invalid UTF-8", () => {
    expect(codeOf(() => decodeUtf8(new Uint8Array([0x3c, 0xff, 0xfe])))).toBe("MalformedXML");
  });

  it("rejects unsupported and invalid properties with InvalidArgument naming them", () => {
    const msg = (props: string) => `<Message><MessageBody>x</MessageBody><Properties>${props}</Properties></Message>`;
    expect(() => decodePublishXml(msg("__TransCheckT:10|"))).toThrow(/transactional/);
    expect(() => decodePublishXml(msg("__SHARDINGKEY:s1|"))).toThrow(/ordered/);
    expect(codeOf(() => decodePublishXml(msg("__STARTDELIVERTIME:soon|")))).toBe("InvalidArgument");
    expect(codeOf(() => decodePublishXml(msg("a:it&apos;s|")))).toBe("InvalidArgument");
    expect(codeOf(() => decodePublishXml(msg("a&lt;b:1|")))).toBe("InvalidArgument");
  });

  it("requires a body and 1..16 receipt handles", () => {
    expect(codeOf(() => decodePublishXml("<Message><MessageTag>t</MessageTag></Message>"))).toBe("InvalidArgument");
    expect(codeOf(() => decodeAckXml("<ReceiptHandles></ReceiptHandles>"))).toBe("MissingReceiptHandle");
    const many = `<ReceiptHandles>${"<ReceiptHandle>h</ReceiptHandle>".repeat(17)}</ReceiptHandles>`;
    expect(codeOf(() => decodeAckXml(many))).toBe("InvalidArgument");
    expect(codeOf(() => decodeAckXml("<Message><MessageBody>x</MessageBody></Message>"))).toBe("MalformedXML");
  });
});

describe("RocketMQ XML codec: responses", () => {
  it("encodes the publish response byte for byte", () => {
    const xml = encodePublishXml({ messageId: "0190A1B2C3D4E5F60718293A4B5C6D7E", bodyMd5: "5D41402ABC4B2A76B9719D911017C592" });
    expect(xml).toBe(fixture("publish-response.xml"));
  });

  it("encodes messages byte for byte: escaped body, all four numbers, empty elements never self-closing", () => {
    // Prepare
    const common = { topic: "ns~T", group: "G", firstConsumedAtMs: 1767225603500, nextVisibleAtMs: 1767225903500, expiresAtMs: 0 };
    const messages: ReceivedMessage[] = [
      {
        ...common,
        messageId: "0190A1B2C3D4E5F60718293A4B5C6D7E",
        receiptHandle: "aGFuZGxlLTE",
        body: "a <b> & \"c\" 'd'\r\ne",
        bodyMd5: "0D7C2B4E5F0B1A3C8E9D6F7A2B1C0D9E",
        tag: "TagA",
        key: "order-1",
        properties: { region: "hz", "bad|key": "x", empty: "" },
        publishedAtMs: 1767225600000,
        deliverAtMs: 1767225603000,
        consumedTimes: 1,
      },
      {
        ...common,
        messageId: "0190A1B2C3D4E5F60718293A4B5C6D7F",
        receiptHandle: "aGFuZGxlLTI",
        body: "hello",
        bodyMd5: "5D41402ABC4B2A76B9719D911017C592",
        properties: {},
        publishedAtMs: 1767225600001,
        deliverAtMs: 1767225600001,
        consumedTimes: 2,
      },
    ];
    // Act
    const xml = encodeMessagesXml(messages);
    // Assess
    expect(xml).toBe(fixture("consume-response.xml"));
  });

  it("encodes per-handle ack failures as Errors", () => {
    const xml = encodeAckErrorsXml([
      { receiptHandle: "bogus", code: "ReceiptHandleError", message: "malformed receipt handle" },
      { receiptHandle: "aGFuZGxlLTE", code: "MessageNotExist", message: "receipt handle expired" },
    ]);
    expect(xml).toBe(fixture("ack-errors-response.xml"));
  });

  it("encodes an Error with the namespace without trailing slash", () => {
    const xml = encodeErrorXml({ code: "MessageNotExist", message: "no message to consume", requestId: "req-1", hostId: "http://127.0.0.1:8080" });
    expect(xml).toBe(fixture("error-response.xml"));
  });

  it("writes characters XML 1.0 cannot carry (from the JSON door) as U+FFFD", () => {
    expect(escapeXml("a\u0001b\uFFFEc")).toBe("a\uFFFDb\uFFFDc");
  });

  it("round-trips an encoded body through the request decoder", () => {
    const body = "x\r\ny ]]> <&> \u{1F600} \u00e9";
    const encoded = encodeMessagesXml([
      {
        topic: "T",
        group: "G",
        messageId: "0190A1B2C3D4E5F60718293A4B5C6D7E",
        receiptHandle: "h",
        body,
        bodyMd5: "X",
        properties: {},
        publishedAtMs: 1,
        deliverAtMs: 1,
        firstConsumedAtMs: 2,
        nextVisibleAtMs: 3,
        consumedTimes: 1,
        expiresAtMs: 9,
      },
    ]);
    const inner = /<MessageBody>([\s\S]*)<\/MessageBody>/.exec(encoded)?.[1] ?? "";
    expect(decodePublishXml(`<Message><MessageBody>${inner}</MessageBody></Message>`).body).toBe(body);
  });
});
