import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../infra/queue-function.js";
import { clientTypes } from "../../scripts/client-types.js";

const CLIENT = join(PROJECT_ROOT, "client");
const json = (path: string) => JSON.parse(readFileSync(path, "utf8"));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

const specifiers = (file: string) =>
  [
    ...readFileSync(file, "utf8").matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/g),
    ...readFileSync(file, "utf8").matchAll(/import\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => m[1] as string);

describe("the client package", () => {
  it("has types generated from its OpenAPI document that are up to date (npm run openapi)", async () => {
    const expected = await clientTypes(json(join(CLIENT, "openapi.json")));
    expect(readFileSync(join(CLIENT, "src/schema.ts"), "utf8")).toBe(expected);
  });

  it("depends only on the public API: no import outside client/, every package declared here and in the repository", () => {
    // Prepare
    const own = json(join(CLIENT, "package.json"));
    const root = json(join(PROJECT_ROOT, "package.json"));
    const problems: string[] = [];
    // Act
    for (const file of files(CLIENT)) {
      for (const s of specifiers(file)) {
        if (s.startsWith(".")) {
          const target = relative(CLIENT, join(file, "..", s));
          if (target.startsWith("..")) problems.push(`${relative(PROJECT_ROOT, file)} imports ${s}, outside client/`);
        } else if (!s.startsWith("node:")) {
          const name = s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : (s.split("/")[0] as string);
          if (!own.dependencies[name]) problems.push(`${relative(PROJECT_ROOT, file)} imports ${name}, not a dependency of client/package.json`);
          if (!root.dependencies[name] && !root.devDependencies[name]) problems.push(`${name} is not installed by the repository's package.json`);
        }
      }
    }
    // Assess
    expect(problems).toEqual([]);
    for (const [name, version] of Object.entries(own.dependencies)) expect(root.dependencies[name] ?? root.devDependencies[name], name).toBe(version);
    // `npx delayq` from a clone: the repository's own bin is the client's launcher, executable.
    expect(root.bin).toEqual({ delayq: "client/bin/delayq.js" });
    expect(own.bin).toEqual({ delayq: "bin/delayq.js" });
    expect(statSync(join(CLIENT, "bin/delayq.js")).mode & 0o111).not.toBe(0);
  });
});

describe("the client in a Lambda function", () => {
  it("bundles with esbuild as a Lambda handler (ESM, node22, the AWS SDK external) and calls the API from the bundle", async () => {
    // Prepare: a handler using the client, bundled as the stack bundles its own functions
    const { build } = await import("esbuild");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    const { pathToFileURL } = await import("node:url");
    const { memoryApp } = await import("../support/memory-app.js");
    const { closeServer, startHttpServer } = await import("../../local/server.js");
    const dir = join(PROJECT_ROOT, "node_modules/.cache/delayq-client-lambda");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "handler.ts"),
      `import { DelayqClient } from "../../../client/src/index.js";
const client = new DelayqClient();
export const handler = async (event: { topic: string; body: string }) => {
  const published = await client.publish(event.topic, { body: event.body, delayMs: 60_000 });
  return { published, state: (await client.getMessage(event.topic, published.messageId)).state };
};`,
    );
    await build({
      entryPoints: [join(dir, "handler.ts")],
      outfile: join(dir, "handler.mjs"),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      minify: true,
      external: ["@aws-sdk/*"],
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: "silent",
    });
    const server = await startHttpServer(memoryApp(Date.now()).runtime.app, 0);
    const saved = process.env.DELAYQ_ENDPOINT;
    process.env.DELAYQ_ENDPOINT = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      // Act
      const { handler } = await import(`${pathToFileURL(join(dir, "handler.mjs")).href}?${Date.now()}`);
      const result = await handler({ topic: "from-lambda", body: "hi" });
      // Assess
      expect(result).toMatchObject({ published: { messageId: expect.stringMatching(/^[0-9A-F]{32}$/) }, state: "scheduled" });
    } finally {
      if (saved === undefined) delete process.env.DELAYQ_ENDPOINT;
      else process.env.DELAYQ_ENDPOINT = saved;
      await closeServer(server);
    }
  });
});
