import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

type Json = Record<string, any>;

const METHODS = ["get", "put", "post", "delete", "patch"] as const;

/** `#/components/schemas/X` → `openapi.json#/$defs/X`, so Ajv resolves the document's references. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, k === "$ref" && typeof v === "string" ? v.replace("#/components/schemas/", "openapi.json#/$defs/") : rewriteRefs(v)]),
  );
}

export interface Operation {
  method: string;
  path: string;
  operationId: string;
  spec: Json;
  pattern: RegExp;
}

/** Every operation of the document, with a matcher for its path template. */
export function operationsOf(document: Json): Operation[] {
  return Object.entries(document.paths as Json).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({
      method: m.toUpperCase(),
      path,
      operationId: item[m].operationId,
      spec: item[m],
      pattern: new RegExp(`^${path.replace(/[.]/g, "\\.").replace(/\{[A-Za-z]+\}/g, "[^/]+")}$`),
    })),
  );
}

/**
 * Validates answers against the document with Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1, in
 * strict mode, with formats), and remembers which operation answered with which status.
 */
export function openApiChecker(document: Json) {
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: "openapi.json", $defs: rewriteRefs(document.components.schemas) as Json });
  const operations = operationsOf(document);
  const compiled = new Map<string, ValidateFunction>();
  const covered = new Set<string>();

  const resolve = (node: Json): Json => {
    if (typeof node.$ref === "string") {
      const [, kind, name] = /^#\/components\/(\w+)\/(.+)$/.exec(node.$ref) ?? [];
      return document.components[kind as string][name as string];
    }
    return node;
  };
  const validator = (key: string, schema: unknown): ValidateFunction => {
    let v = compiled.get(key);
    if (!v) {
      v = ajv.compile(rewriteRefs(schema) as Json);
      compiled.set(key, v);
    }
    return v;
  };
  const describe = (v: ValidateFunction) => ajv.errorsText(v.errors, { separator: "; " });

  const find = (method: string, pathname: string) => operations.find((o) => o.method === method && o.pattern.test(pathname));

  return {
    operations,
    covered,
    ajv,
    /** Problems of one answer: an undocumented status, a missing header, a body that does not validate. */
    check(method: string, url: string, status: number, headers: Headers, text: string): string[] {
      const pathname = new URL(url).pathname;
      const op = find(method, pathname);
      if (!op) return [`${method} ${pathname}: no operation in the document`];
      const where = `${op.operationId} (${method} ${op.path}) ${status}`;
      const documented = op.spec.responses[String(status)];
      if (!documented) return [`${where}: status not documented`];
      covered.add(`${op.operationId} ${status}`);
      const response = resolve(documented);
      const problems: string[] = [];
      if (!headers.get("x-request-id")) problems.push(`${where}: no x-request-id`);
      if (response.headers?.["Retry-After"] && !headers.get("retry-after")) problems.push(`${where}: no Retry-After`);
      const schema = response.content?.["application/json"]?.schema;
      if (schema) {
        if (!/^application\/json\b/.test(headers.get("content-type") ?? "")) problems.push(`${where}: content-type ${headers.get("content-type")}`);
        const v = validator(`${op.operationId} ${status}`, schema);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return [...problems, `${where}: body is not JSON: ${text.slice(0, 200)}`];
        }
        if (!v(body)) problems.push(`${where}: ${describe(v)} in ${text.slice(0, 400)}`);
      }
      return problems;
    },
    /** Problems of a request body against its operation's schema (to check that examples are valid). */
    checkRequest(op: Operation, body: unknown): string[] {
      const schema = op.spec.requestBody?.content?.["application/json"]?.schema;
      if (!schema) return [];
      const v = validator(`${op.operationId} request`, schema);
      return v(body) ? [] : [`${op.operationId} request: ${describe(v)}`];
    },
    /** Problems of a value against a response schema of an operation. */
    checkResponseBody(op: Operation, status: string, body: unknown): string[] {
      const schema = resolve(op.spec.responses[status]).content?.["application/json"]?.schema;
      if (!schema) return [];
      const v = validator(`${op.operationId} ${status}`, schema);
      return v(body) ? [] : [`${op.operationId} ${status}: ${describe(v)}`];
    },
    resolve,
  };
}

/** A fetch that checks every answer against the document and collects the problems. */
export function checkedFetch(baseUrl: string, checker: ReturnType<typeof openApiChecker>, problems: string[]) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const url = `${baseUrl}${path}`;
    const response = await fetch(url, {
      method,
      headers: { ...(body !== undefined && { "content-type": "application/json" }), ...headers },
      ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    problems.push(...checker.check(method, url, response.status, response.headers, text));
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
  };
}
