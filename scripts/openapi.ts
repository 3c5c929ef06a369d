import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "../core/http/openapi.js";

/** Writes the OpenAPI document the JSON door serves to client/openapi.json (the client's copy; a test keeps them equal). */
const target = fileURLToPath(new URL("../client/openapi.json", import.meta.url));
writeFileSync(target, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
console.log(`wrote ${target}`);
