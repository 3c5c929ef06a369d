import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEFAULT_LOCAL_MQ_CREDENTIALS, localMqCredentials, parseMqCredentialSecret, parseMqCredentials, staticCredentials } from "../../core/mq-credentials.js";
import { signature, stringToSign, verifyContentMd5, verifyMqSignature } from "../../core/protocol/mq-signature.js";
import { MqProtocolError } from "../../core/protocol/rocketmq-errors.js";

const DATE = "Thu, 01 Jan 2026 00:00:00 GMT";
const DATE_MS = Date.parse(DATE);
const TYPE = "text/xml;charset=utf-8";
const VERSION = { "x-mq-version": "2015-06-06" };
const credentials = staticCredentials(new Map([["AK1", "testsecret"]]));

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (error instanceof MqProtocolError) return error.code;
    throw error;
  }
}

describe("MQ signature", () => {
  it("matches the protocol file's POST test vector", () => {
    const toSign = stringToSign({
      method: "POST",
      contentMd5: "ZmYzMzQzY2JiM2Y0YTI2NWQ4NWNiMzIwZjBkODExZDM=",
      contentType: TYPE,
      date: DATE,
      mqHeaders: VERSION,
      resource: "/topics/TopicA/messages?ns=MQ_INST_1",
    });
    expect(signature("testsecret", toSign)).toBe("RVUYcyRYtQKaScFLYS3tbvMXTNU=");
  });

  it("matches the protocol file's GET test vector", () => {
    const toSign = stringToSign({
      method: "GET",
      contentMd5: "",
      contentType: TYPE,
      date: DATE,
      mqHeaders: VERSION,
      resource: "/topics/TopicA/messages?consumer=GID_A&ns=MQ_INST_1&numOfMessages=3&waitseconds=3&tag=TagA%7C%7CTagB",
    });
    expect(toSign).toBe(
      `GET\n\n${TYPE}\n${DATE}\nx-mq-version:2015-06-06\n/topics/TopicA/messages?consumer=GID_A&ns=MQ_INST_1&numOfMessages=3&waitseconds=3&tag=TagA%7C%7CTagB`,
    );
    expect(signature("testsecret", toSign)).toBe("kMsbmZcygNiTlqxskb1Hk6nDu60=");
  });

  const rawPath = "/topics/TopicA/messages";
  const rawQuery = "consumer=GID_A&ns=MQ_INST_1&numOfMessages=3&waitseconds=3&tag=TagA%7C%7CTagB";
  const signedHeaders = (sig = "kMsbmZcygNiTlqxskb1Hk6nDu60=", ak = "AK1") =>
    new Headers({ authorization: `MQ ${ak}:${sig}`, date: DATE, "content-type": TYPE, "x-mq-version": "2015-06-06" });

  it("verifies a request signed over the raw target and returns its access key id", async () => {
    const ak = await verifyMqSignature({ method: "GET", headers: signedHeaders(), rawPath, rawQuery, nowMs: DATE_MS + 60_000 }, credentials);
    expect(ak).toBe("AK1");
  });

  it("fails when the query is re-ordered or decoded", async () => {
    const reordered = "ns=MQ_INST_1&consumer=GID_A&numOfMessages=3&waitseconds=3&tag=TagA%7C%7CTagB";
    const decoded = "consumer=GID_A&ns=MQ_INST_1&numOfMessages=3&waitseconds=3&tag=TagA||TagB";
    for (const q of [reordered, decoded]) {
      expect(await codeOf(verifyMqSignature({ method: "GET", headers: signedHeaders(), rawPath, rawQuery: q, nowMs: DATE_MS }, credentials))).toBe(
        "SignatureDoesNotMatch",
      );
    }
  });

  it("answers the codes the SDKs expect", async () => {
    const base = { method: "GET", rawPath, rawQuery, nowMs: DATE_MS };
    expect(await codeOf(verifyMqSignature({ ...base, headers: signedHeaders("AAAAAAAAAAAAAAAAAAAAAAAAAAA=") }, credentials))).toBe("SignatureDoesNotMatch");
    expect(await codeOf(verifyMqSignature({ ...base, headers: signedHeaders(undefined, "NOPE") }, credentials))).toBe("InvalidAccessKeyId");
    expect(await codeOf(verifyMqSignature({ ...base, nowMs: DATE_MS + 15 * 60_000 + 1000, headers: signedHeaders() }, credentials))).toBe("TimeExpired");
    expect(await codeOf(verifyMqSignature({ ...base, nowMs: DATE_MS - 16 * 60_000, headers: signedHeaders() }, credentials))).toBe("TimeExpired");
    const noAuth = signedHeaders();
    noAuth.delete("authorization");
    expect(await codeOf(verifyMqSignature({ ...base, headers: noAuth }, credentials))).toBe("MissingAuthorizationHeader");
    const noDate = signedHeaders();
    noDate.delete("date");
    expect(await codeOf(verifyMqSignature({ ...base, headers: noDate }, credentials))).toBe("MissingDateHeader");
  });
});

describe("Content-MD5", () => {
  const body = new TextEncoder().encode("<Message><MessageBody>x</MessageBody></Message>");
  const hex = createHash("md5").update(body).digest("hex");

  it("accepts base64 of the lower-case hex MD5 (Go, Node) and of the raw digest", () => {
    expect(() => verifyContentMd5(Buffer.from(hex).toString("base64"), body)).not.toThrow();
    expect(() => verifyContentMd5(createHash("md5").update(body).digest("base64"), body)).not.toThrow();
    expect(() => verifyContentMd5(null, body)).not.toThrow();
    expect(() => verifyContentMd5(Buffer.from(createHash("md5").update("").digest("hex")).toString("base64"), new Uint8Array(0))).not.toThrow();
  });

  it("answers InvalidDigest for a wrong digest", () => {
    const wrong = Buffer.from(createHash("md5").update("other").digest("hex")).toString("base64");
    expect(() => verifyContentMd5(wrong, body)).toThrow(expect.objectContaining({ code: "InvalidDigest" }));
    expect(() => verifyContentMd5("garbage", body)).toThrow(expect.objectContaining({ code: "InvalidDigest" }));
  });
});

describe("MQ credentials", () => {
  it("parses AK:SECRET lists; a secret may contain ':'", () => {
    expect([...parseMqCredentials(" a:1 , b:x:y ")]).toEqual([
      ["a", "1"],
      ["b", "x:y"],
    ]);
    expect(() => parseMqCredentials("a:1,broken")).toThrow(/item 2/);
    expect(() => parseMqCredentials(",")).toThrow(/empty/);
  });

  it("falls back to the documented default pair when MQ_CREDENTIALS is unset", async () => {
    const provider = localMqCredentials({});
    expect(await provider.secretFor(DEFAULT_LOCAL_MQ_CREDENTIALS.accessKeyId)).toBe(DEFAULT_LOCAL_MQ_CREDENTIALS.accessKeySecret);
    const configured = localMqCredentials({ MQ_CREDENTIALS: "k1:s1" });
    expect(await configured.secretFor("k1")).toBe("s1");
    expect(await configured.secretFor(DEFAULT_LOCAL_MQ_CREDENTIALS.accessKeyId)).toBeUndefined();
  });

  it("reads a secret as JSON or as AK:SECRET text", () => {
    expect([...parseMqCredentialSecret('{"accessKeyId":"a","accessKeySecret":"s"}', "secret")]).toEqual([["a", "s"]]);
    expect([...parseMqCredentialSecret('[{"accessKeyId":"a","accessKeySecret":"s"},{"accessKeyId":"b","accessKeySecret":"t"}]', "secret")]).toHaveLength(2);
    expect([...parseMqCredentialSecret("a:s,b:t", "secret")]).toHaveLength(2);
    expect(() => parseMqCredentialSecret('{"accessKeyId":"a"}', "secret")).toThrow(/accessKeySecret/);
  });
});
