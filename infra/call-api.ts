import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { pathToFileURL } from "node:url";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { SignatureV4 } from "@smithy/signature-v4";

type SignerCredentials = ConstructorParameters<typeof SignatureV4>[0]["credentials"];
type SourceData = string | ArrayBuffer | ArrayBufferView;

/** SHA-256 (or HMAC-SHA-256 when given a key) for the SigV4 signer, on node:crypto. */
export class NodeSha256 {
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

export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** The region of an `https://<id>.execute-api.<region>.amazonaws.com/` URL, else AWS_REGION. */
export function regionOf(url: URL, fallback = process.env.AWS_REGION): string {
  const match = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname);
  const region = match?.[1] ?? fallback;
  if (!region) throw new Error(`cannot tell the region of ${url.hostname}: set AWS_REGION`);
  return region;
}

/** Signs an HTTP API request with SigV4 for the `execute-api` service (IAM authorization). */
export async function signRequest(
  method: string,
  url: URL,
  body: string | undefined,
  credentials: SignerCredentials,
  options: { region?: string; signingDate?: Date } = {},
): Promise<SignedRequest> {
  const signer = new SignatureV4({
    credentials,
    region: options.region ?? regionOf(url),
    service: "execute-api",
    sha256: NodeSha256,
  });
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(key);
    query[key] = values.length === 1 ? (values[0] as string) : values;
  }
  const signed = await signer.sign(
    {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      path: url.pathname,
      query,
      headers: { host: url.host, ...(body !== undefined && { "content-type": "application/json" }) },
      body,
    },
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  return { method, url: url.href, headers: signed.headers, body };
}

const USAGE = `usage: npx tsx infra/call-api.ts <METHOD> <URL> [JSON body]
  e.g. npx tsx infra/call-api.ts POST "$API_URL"v1/topics/orders/messages '{"body":"hi","delayMs":60000}'
Credentials come from the usual AWS chain (env, profile/SSO, instance role); AWS_PROFILE selects a profile.`;

async function main(argv: string[]): Promise<number> {
  const [method, target, body] = argv;
  if (!method || !target) {
    console.error(USAGE);
    return 2;
  }
  const request = await signRequest(method.toUpperCase(), new URL(target), body, defaultProvider());
  // fetch sets Host itself from the URL, with the same value that was signed.
  const { host: _host, ...headers } = request.headers;
  const response = await fetch(request.url, { method: request.method, headers, body: request.body ?? null });
  console.error(`HTTP ${response.status} ${response.statusText}`);
  console.log(await response.text());
  return response.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
