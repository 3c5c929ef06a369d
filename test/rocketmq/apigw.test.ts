import { createHash } from "node:crypto";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../core/memory-store.js";
import { silentLogger } from "../../core/ports.js";
import { signature, stringToSign } from "../../core/protocol/mq-signature.js";
import { httpHandler } from "../../lambda/apigw.js";
import { buildRuntime } from "../../lambda/composition.js";

const runtime = buildRuntime({ env: { TABLE_NAME: "t", MQ_CREDENTIALS: "AK:SK" }, log: silentLogger, store: new MemoryStore() });
const handler = httpHandler(async () => runtime.app);

function event(method: string, rawPath: string, rawQuery: string, body?: string): APIGatewayProxyEventV2 {
  const date = new Date().toUTCString();
  const contentType = "text/xml;charset=utf-8";
  const md5 = body === undefined ? "" : Buffer.from(createHash("md5").update(body).digest("hex")).toString("base64");
  const toSign = stringToSign({
    method,
    contentMd5: md5,
    contentType,
    date,
    mqHeaders: { "x-mq-version": "2015-06-06" },
    resource: rawQuery ? `${rawPath}?${rawQuery}` : rawPath,
  });
  return {
    version: "2.0",
    routeKey: `${method} /topics/{topic}/messages`,
    rawPath,
    rawQueryString: rawQuery,
    headers: {
      host: "abc.execute-api.eu-west-1.amazonaws.com",
      date,
      "content-type": contentType,
      "x-mq-version": "2015-06-06",
      authorization: `MQ AK:${signature("SK", toSign)}`,
      ...(md5 && { "content-md5": md5 }),
    },
    requestContext: { http: { method }, requestId: `req-${method}` },
    isBase64Encoded: false,
    ...(body !== undefined && { body }),
  } as unknown as APIGatewayProxyEventV2;
}

describe("RocketMQ door behind API Gateway (HTTP API, payload v2)", () => {
  it("verifies signatures over rawPath and rawQueryString and serves publish, consume and ack", async () => {
    // Prepare
    const path = "/topics/TopicGw/messages";
    await handler(event("GET", path, "consumer=GID_gw&ns=MQ_INST_gw&numOfMessages=1"));

    // Act
    const published = await handler(event("POST", path, "ns=MQ_INST_gw", "<Message><MessageBody>via gw</MessageBody><MessageTag>A B</MessageTag></Message>"));
    const consumed = await handler(event("GET", path, "consumer=GID_gw&ns=MQ_INST_gw&numOfMessages=3&waitseconds=1&tag=A+B%7C%7CC"));
    const handle = /<ReceiptHandle>([^<]+)<\/ReceiptHandle>/.exec(consumed.body ?? "")?.[1] ?? "";
    const acked = await handler(event("DELETE", path, "consumer=GID_gw&ns=MQ_INST_gw", `<ReceiptHandles><ReceiptHandle>${handle}</ReceiptHandle></ReceiptHandles>`));

    // Assess
    expect(published.statusCode).toBe(201);
    expect(consumed.statusCode).toBe(200);
    expect(consumed.body).toContain("<MessageBody>via gw</MessageBody>");
    expect(consumed.headers?.["x-mq-request-id"]).toBe("req-GET");
    expect(acked.statusCode).toBe(204);
  });
});
