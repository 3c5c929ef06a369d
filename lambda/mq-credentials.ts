import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { StoreUnavailableError } from "../core/errors.js";
import { type CredentialProvider, localMqCredentials, parseMqCredentialSecret } from "../core/mq-credentials.js";
import type { Logger } from "../core/ports.js";
import { onFirstUse } from "./lazy.js";

/** The Secrets Manager SDK, imported at the first key lookup (not when a function starts). */
const sdk = onFirstUse(() => import("@aws-sdk/client-secrets-manager"));

/** Environment variable naming the Secrets Manager secret that holds the RocketMQ door's access keys. */
export const MQ_CREDENTIALS_SECRET_ENV = "MQ_CREDENTIALS_SECRET_ARN";

/** How long a container keeps the secret before reading it again. */
export const MQ_CREDENTIALS_TTL_MS = 5 * 60 * 1000;
/** An unknown access key re-reads the secret (a key just added) at most this often. */
const MISS_REFRESH_MS = 30 * 1000;

export interface SecretsManagerCredentialsOptions {
  secretId: string;
  client?: Pick<SecretsManagerClient, "send">;
  ttlMs?: number;
  nowMs?: () => number;
  log?: Logger;
}

/**
 * Access keys from a Secrets Manager secret (JSON `{"accessKeyId","accessKeySecret"}`, a list of such, or
 * `AK:SECRET[,…]` text), cached per container. When a refresh fails the last good keys stay in use.
 */
export function secretsManagerMqCredentials(options: SecretsManagerCredentialsOptions): CredentialProvider {
  const given = options.client;
  const client = given ? async () => given : onFirstUse(async () => new (await sdk()).SecretsManagerClient({}));
  const ttlMs = options.ttlMs ?? MQ_CREDENTIALS_TTL_MS;
  const nowMs = options.nowMs ?? Date.now;
  let cached: { keys: Map<string, string>; atMs: number } | undefined;
  let inflight: Promise<Map<string, string>> | undefined;

  async function fetchKeys(): Promise<Map<string, string>> {
    const { GetSecretValueCommand } = await sdk();
    const out = await (await client()).send(new GetSecretValueCommand({ SecretId: options.secretId }));
    const text = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString("utf8") : "");
    return parseMqCredentialSecret(text, `secret ${MQ_CREDENTIALS_SECRET_ENV}`);
  }

  async function load(): Promise<Map<string, string>> {
    inflight ??= fetchKeys()
      .then((keys) => {
        cached = { keys, atMs: nowMs() };
        return keys;
      })
      .catch((error: unknown) => {
        options.log?.error("mq-credentials-unavailable", { error: error instanceof Error ? error.message : String(error) });
        if (cached) return cached.keys;
        throw new StoreUnavailableError("access keys are unavailable right now; retry shortly");
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  return {
    async secretFor(accessKeyId) {
      const age = cached ? nowMs() - cached.atMs : Number.POSITIVE_INFINITY;
      let keys = cached && age < ttlMs ? cached.keys : await load();
      if (!keys.has(accessKeyId) && age >= MISS_REFRESH_MS && cached && age < ttlMs) keys = await load();
      return keys.get(accessKeyId);
    },
  };
}

/**
 * The RocketMQ door's key source for a runtime: the Secrets Manager secret when
 * `MQ_CREDENTIALS_SECRET_ARN` is set; inside Lambda without it, no key is accepted (secrets never come
 * from the function's environment); elsewhere (the local runtime) `MQ_CREDENTIALS` or the default pair.
 */
export function mqCredentialsFor(env: Readonly<Record<string, string | undefined>>, log?: Logger): CredentialProvider {
  const secretId = env[MQ_CREDENTIALS_SECRET_ENV];
  if (secretId) return secretsManagerMqCredentials({ secretId, ...(log && { log }) });
  if (env.AWS_LAMBDA_FUNCTION_NAME) {
    log?.warn("mq-credentials-missing", { message: `${MQ_CREDENTIALS_SECRET_ENV} is not set: the RocketMQ door rejects every key` });
    return { secretFor: async () => undefined };
  }
  return localMqCredentials(env);
}
