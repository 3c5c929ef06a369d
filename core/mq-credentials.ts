import { invalid } from "./errors.js";

/** Access keys of the RocketMQ-compatible door: access key id → secret. */
export interface CredentialProvider {
  /** The secret of an access key id, or undefined when the key is unknown. */
  secretFor(accessKeyId: string): Promise<string | undefined>;
}

/** Environment variable of the local runtime: `AK:SECRET[,AK:SECRET…]`. */
export const MQ_CREDENTIALS_ENV = "MQ_CREDENTIALS";

/** The pair the local runtime accepts when `MQ_CREDENTIALS` is unset, so the SDK samples run at once. */
export const DEFAULT_LOCAL_MQ_CREDENTIALS = { accessKeyId: "delayq-local", accessKeySecret: "delayq-local-secret" } as const;

/**
 * `AK:SECRET[,AK:SECRET…]` → map. Whitespace around items is ignored; a secret may itself contain `:`
 * (the first `:` separates). Throws InvalidArgument naming the bad item (never echoing a secret).
 */
export function parseMqCredentials(text: string, source = MQ_CREDENTIALS_ENV): Map<string, string> {
  const out = new Map<string, string>();
  const items = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  items.forEach((item, i) => {
    const at = item.indexOf(":");
    const ak = at > 0 ? item.slice(0, at).trim() : "";
    const secret = at > 0 ? item.slice(at + 1).trim() : "";
    if (ak === "" || secret === "") {
      throw invalid(`${source}: item ${i + 1} must be ACCESS_KEY_ID:SECRET (comma-separated for several keys)`);
    }
    out.set(ak, secret);
  });
  if (out.size === 0) throw invalid(`${source} is empty; give at least one ACCESS_KEY_ID:SECRET pair`);
  return out;
}

export function staticCredentials(pairs: ReadonlyMap<string, string>): CredentialProvider {
  return {
    secretFor: async (accessKeyId) => pairs.get(accessKeyId),
  };
}

/** The local runtime's keys: `MQ_CREDENTIALS` when set, else the documented default pair. */
export function localMqCredentials(env: Readonly<Record<string, string | undefined>>): CredentialProvider {
  const text = env[MQ_CREDENTIALS_ENV];
  if (text === undefined || text.trim() === "") {
    return staticCredentials(new Map([[DEFAULT_LOCAL_MQ_CREDENTIALS.accessKeyId, DEFAULT_LOCAL_MQ_CREDENTIALS.accessKeySecret]]));
  }
  return staticCredentials(parseMqCredentials(text));
}

/**
 * A secret's text: JSON `{"accessKeyId": "…", "accessKeySecret": "…"}` (or an array of such objects),
 * or the `AK:SECRET[,…]` form.
 */
export function parseMqCredentialSecret(text: string, source: string): Map<string, string> {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return parseMqCredentials(trimmed, source);
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    throw invalid(`${source}: secret is neither JSON nor ACCESS_KEY_ID:SECRET pairs`);
  }
  const list = Array.isArray(value) ? value : [value];
  const out = new Map<string, string>();
  for (const item of list) {
    const o = item as Record<string, unknown> | null;
    const ak = o?.accessKeyId;
    const secret = o?.accessKeySecret;
    if (typeof ak !== "string" || ak === "" || typeof secret !== "string" || secret === "") {
      throw invalid(`${source}: secret JSON must be {"accessKeyId": "...", "accessKeySecret": "..."}`);
    }
    out.set(ak, secret);
  }
  if (out.size === 0) throw invalid(`${source}: secret holds no access keys`);
  return out;
}
