import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { handlerBuildOptions } from "../../bench/scenarios/cold-start.js";
import { HandlerName } from "../../infra/handlers.js";

/** The packages a handler's bundle imports when its module loads (static imports), and those it imports on first use. */
async function importsOf(name: string): Promise<{ atStart: string[]; onUse: string[] }> {
  const out = await build({ ...handlerBuildOptions(name), write: false, outfile: `${name}.mjs`, metafile: true, sourcemap: false });
  const imports = Object.values(out.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external && !i.path.startsWith("node:")));
  const unique = (kinds: string[]) => [...new Set(imports.filter((i) => kinds.includes(i.kind)).map((i) => i.path))].sort();
  return { atStart: unique(["import-statement", "require-call"]), onUse: unique(["dynamic-import"]) };
}

describe("cold start", () => {
  it.each(Object.values(HandlerName))("the %s function loads only the DynamoDB SDK when it starts; other AWS clients are imported at first use", async (name) => {
    const { atStart, onUse } = await importsOf(name);
    expect(atStart).toEqual(["@aws-sdk/client-dynamodb", "@aws-sdk/util-dynamodb"]);
    expect(onUse).toEqual(expect.arrayContaining(["@aws-sdk/client-lambda", "@aws-sdk/client-scheduler", "@aws-sdk/client-secrets-manager"]));
  });
});
