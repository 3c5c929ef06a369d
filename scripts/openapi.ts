import { writeFileSync } from "node:fs";
import { openApiDocument } from "../core/http/openapi.js";
import { clientTypes } from "./client-types.js";

/**
 * Writes what the client package takes from the JSON door: its copy of the OpenAPI document
 * (client/openapi.json) and the types generated from it (client/src/schema.ts). Tests fail when either
 * is stale.
 */
const client = new URL("../client/", import.meta.url);
const document = openApiDocument();
writeFileSync(new URL("openapi.json", client), `${JSON.stringify(document, null, 2)}\n`);
writeFileSync(new URL("src/schema.ts", client), await clientTypes(document as never));
console.log("wrote client/openapi.json and client/src/schema.ts");
