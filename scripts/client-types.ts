import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compile } from "json-schema-to-typescript";

/**
 * The client's types, generated from its copy of the OpenAPI document (client/openapi.json): one
 * interface per component schema. `npm run openapi` writes both; test/client/types.test.ts keeps them fresh.
 */
export async function clientTypes(document: { components: { schemas: Record<string, unknown> } }): Promise<string> {
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== "object" || value === null) return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== "examples" && k !== "default")
        .map(([k, v]) => [k, k === "$ref" && typeof v === "string" ? v.replace("#/components/schemas/", "#/$defs/") : rewrite(v)]),
    );
  };
  const defs = rewrite(document.components.schemas) as Record<string, Record<string, unknown>>;
  for (const [name, schema] of Object.entries(defs)) schema.title = name;
  const root = { title: "Schemas", type: "object", additionalProperties: false, properties: {}, $defs: defs };
  const text = await compile(root as never, "Schemas", {
    bannerComment: "/* Generated from client/openapi.json by `npm run openapi`; do not edit. */",
    additionalProperties: false,
    unreachableDefinitions: true,
    maxItems: -1,
    format: true,
    style: { printWidth: 140 },
  });
  // The empty root type carries nothing.
  return text.replace(/export interface Schemas \{\}\n/, "");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = new URL("../client/", import.meta.url);
  const document = JSON.parse(readFileSync(new URL("openapi.json", root), "utf8"));
  writeFileSync(new URL("src/schema.ts", root), await clientTypes(document));
  console.log("wrote client/src/schema.ts");
}
