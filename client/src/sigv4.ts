import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";

/** AWS credentials as the SDK gives them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}
export type CredentialsProvider = () => Promise<AwsCredentials>;

export interface SigV4Options {
  /** The stack's region; default: from an execute-api endpoint's host name, else AWS_REGION. */
  region?: string;
  /** A profile of the shared config files (default: AWS_PROFILE, else the default chain). */
  profile?: string;
  /** Credentials or a provider; default: the SDK's default chain (env, SSO, profiles, container and instance roles). */
  credentials?: AwsCredentials | CredentialsProvider;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

/** SHA-256 (HMAC-SHA-256 with a key) for the signer, on node:crypto. */
class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.create();
  }
  update(data: Uint8Array | string): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.create();
  }
  private create(): Hash | Hmac {
    if (this.secret === undefined) return createHash("sha256");
    const key =
      typeof this.secret === "string"
        ? this.secret
        : ArrayBuffer.isView(this.secret)
          ? new Uint8Array(this.secret.buffer, this.secret.byteOffset, this.secret.byteLength)
          : new Uint8Array(this.secret);
    return createHmac("sha256", key);
  }
}

/** The region of an `https://<id>.execute-api.<region>.amazonaws.com` endpoint. */
export function regionOfEndpoint(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(url.hostname)?.[1];
}

export type Signer = (method: string, url: URL, headers: Record<string, string>, body: string | undefined) => Promise<Record<string, string>>;

/**
 * A SigV4 signer for the `execute-api` service (API Gateway's IAM authorization), with
 * @smithy/signature-v4 and, unless credentials are given, the default credential chain of
 * @aws-sdk/credential-provider-node. Both are loaded on first use, so a client that never signs never loads them.
 */
export function sigv4Signer(endpoint: URL, options: SigV4Options, env: Readonly<Record<string, string | undefined>>): Signer {
  const region = options.region ?? regionOfEndpoint(endpoint) ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new Error(`cannot tell the AWS region of ${endpoint.host}: pass aws.region (or --region), or set AWS_REGION`);
  let signer: Promise<{ sign: (request: any, options?: any) => Promise<{ headers: Record<string, string> }> }> | undefined;
  const load = async () => {
    const { SignatureV4 } = await import("@smithy/signature-v4");
    let credentials = options.credentials;
    if (credentials === undefined) {
      const { defaultProvider } = await import("@aws-sdk/credential-provider-node");
      const profile = options.profile ?? env.AWS_PROFILE;
      credentials = defaultProvider(profile ? { profile } : {}) as CredentialsProvider;
    }
    return new SignatureV4({ credentials, region, service: "execute-api", sha256: NodeSha256 });
  };
  return async (method, url, headers, body) => {
    signer ??= load();
    const query: Record<string, string | string[]> = {};
    for (const key of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(key);
      query[key] = values.length === 1 ? (values[0] as string) : values;
    }
    const signed = await (await signer).sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port !== "" && { port: Number(url.port) }),
      path: url.pathname,
      query,
      headers: { ...headers, host: url.host },
      body,
    });
    // fetch sets Host itself, from the URL: the value that was signed.
    const { host: _host, ...out } = signed.headers;
    return out;
  };
}
