import { describe, expect, it } from "vitest";
import { NodeSha256, regionOf, signRequest } from "../../infra/call-api.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("NodeSha256", () => {
  it("hashes (FIPS 180-2 'abc')", async () => {
    const hash = new NodeSha256();
    hash.update("abc");
    expect(hex(await hash.digest())).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("computes HMAC with a key (RFC 4231 test case 2)", async () => {
    const hmac = new NodeSha256(new TextEncoder().encode("Jefe"));
    hmac.update("what do ya want for nothing?");
    expect(hex(await hmac.digest())).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });
});

describe("signRequest", () => {
  it("signs for execute-api in the URL's region, over host, date and the body's hash", async () => {
    // Prepare
    const url = new URL("https://abc123.execute-api.eu-west-1.amazonaws.com/v1/topics/orders/messages?x=1");
    const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
    // Act
    const signed = await signRequest("POST", url, '{"body":"hi"}', credentials, {
      signingDate: new Date("2025-01-02T03:04:05Z"),
    });
    // Assess
    expect(signed.headers["x-amz-date"]).toBe("20250102T030405Z");
    expect(signed.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20250102\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(signed.url).toBe(url.href);
  });

  it("takes the region from AWS_REGION for a custom domain", () => {
    expect(regionOf(new URL("https://queue.example.com/"), "us-east-2")).toBe("us-east-2");
    expect(() => regionOf(new URL("https://queue.example.com/"), "")).toThrow("AWS_REGION");
  });
});
