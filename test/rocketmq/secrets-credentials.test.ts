import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../core/errors.js";
import { mqCredentialsFor, secretsManagerMqCredentials } from "../../lambda/mq-credentials.js";

const ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mq-keys";
const sm = mockClient(SecretsManagerClient);

describe("RocketMQ door keys from Secrets Manager", () => {
  beforeEach(() => sm.reset());

  it("reads the JSON secret once per TTL and serves lookups from the cache", async () => {
    // Prepare
    let now = 1_000_000;
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: '{"accessKeyId":"AK","accessKeySecret":"S"}' });
    const provider = secretsManagerMqCredentials({ secretId: ARN, client: new SecretsManagerClient({}), ttlMs: 60_000, nowMs: () => now });

    // Act
    const first = await provider.secretFor("AK");
    now += 10_000;
    const cached = await provider.secretFor("AK");
    now += 60_000;
    const refreshed = await provider.secretFor("AK");

    // Assess
    expect([first, cached, refreshed]).toEqual(["S", "S", "S"]);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it("accepts AK:SECRET text and re-reads for an unknown key at most every 30 s", async () => {
    let now = 0;
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: "a:1" }).resolves({ SecretString: "a:1,b:2" });
    const provider = secretsManagerMqCredentials({ secretId: ARN, client: new SecretsManagerClient({}), nowMs: () => now });

    expect(await provider.secretFor("b")).toBeUndefined();
    now += 5_000;
    expect(await provider.secretFor("b")).toBeUndefined();
    now += 30_000;
    expect(await provider.secretFor("b")).toBe("2");
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it("keeps the last good keys when a refresh fails, and is unavailable (503) without any", async () => {
    let now = 0;
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: "a:1" }).rejects(new Error("throttled"));
    const provider = secretsManagerMqCredentials({ secretId: ARN, client: new SecretsManagerClient({}), ttlMs: 1000, nowMs: () => now });
    expect(await provider.secretFor("a")).toBe("1");
    now += 5000;
    expect(await provider.secretFor("a")).toBe("1");

    sm.reset();
    sm.on(GetSecretValueCommand).rejects(new Error("AccessDenied"));
    const cold = secretsManagerMqCredentials({ secretId: ARN, client: new SecretsManagerClient({}) });
    await expect(cold.secretFor("a")).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it("never takes keys from a Lambda function's environment", async () => {
    const inLambda = mqCredentialsFor({ AWS_LAMBDA_FUNCTION_NAME: "publish", MQ_CREDENTIALS: "a:1" });
    const local = mqCredentialsFor({ MQ_CREDENTIALS: "a:1" });
    expect(await inLambda.secretFor("a")).toBeUndefined();
    expect(await local.secretFor("a")).toBe("1");
  });
});
