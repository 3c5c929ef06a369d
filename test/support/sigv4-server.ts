import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SignatureV4 } from "@smithy/signature-v4";
import type { App } from "../../core/http/context.js";
import { NodeSha256 } from "../../infra/call-api.js";

export interface SigV4Server {
  url: string;
  /** Requests refused for a missing or wrong signature. */
  refused: number;
  verified: number;
  close(): Promise<void>;
}

/**
 * Stands in for API Gateway's IAM authorization in front of an App: each request's SigV4 signature (service
 * execute-api, `region`) is computed again with @smithy/signature-v4 from the request as received and the
 * known secret, and must be the one sent; otherwise 403 `{"message":"Forbidden"}`, as API Gateway answers.
 */
export async function startSigV4Server(app: App, credentials: { accessKeyId: string; secretAccessKey: string }, region: string): Promise<SigV4Server> {
  const signer = new SignatureV4({ credentials, region, service: "execute-api", sha256: NodeSha256 });
  const state = { refused: 0, verified: 0 };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    const authorization = String(req.headers.authorization ?? "");
    const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/execute-api\/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/.exec(authorization);
    let ok = false;
    if (match && match[1] === credentials.accessKeyId && match[3] === region) {
      const signedNames = (match[4] as string).split(";");
      const headers: Record<string, string> = {};
      for (const name of signedNames) headers[name] = String(req.headers[name] ?? "");
      const amzDate = headers["x-amz-date"] ?? "";
      const signingDate = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
      const query: Record<string, string | string[]> = {};
      for (const key of new Set(url.searchParams.keys())) {
        const values = url.searchParams.getAll(key);
        query[key] = values.length === 1 ? (values[0] as string) : values;
      }
      const expected = await signer.sign(
        { method: req.method ?? "GET", protocol: "http:", hostname: url.hostname, port: Number(url.port), path: url.pathname, query, headers, ...(body !== "" && { body }) },
        { signingDate },
      );
      ok = expected.headers.authorization === authorization && Math.abs(Date.now() - signingDate.getTime()) < 5 * 60_000;
    }
    if (!ok) {
      state.refused++;
      res.writeHead(403, { "content-type": "application/json", "apigw-requestid": "gw-1" }).end('{"message":"Forbidden"}');
      return;
    }
    state.verified++;
    const response = await app.fetch(
      new Request(url, {
        method: req.method ?? "GET",
        headers: Object.entries(req.headers).flatMap(([k, v]) => (typeof v === "string" ? [[k, v] as [string, string]] : [])),
        ...(body !== "" && { body }),
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers)).end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get refused() {
      return state.refused;
    },
    get verified() {
      return state.verified;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
