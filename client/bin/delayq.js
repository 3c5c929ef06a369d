#!/usr/bin/env node
// The delayq command line. A fresh clone needs no build step: on first use (and whenever a source file
// changed) the CLI's TypeScript is bundled with esbuild (tsx's own dependency) into node_modules/.cache,
// which starts in a fraction of the time of compiling it on every run; without esbuild it runs through tsx.
import { mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "..", "src");

function newestSourceMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function cacheDir() {
  for (let dir = here; ; dir = dirname(dir)) {
    try {
      if (statSync(join(dir, "node_modules")).isDirectory()) return join(dir, "node_modules", ".cache", "delayq-cli");
    } catch {}
    if (dirname(dir) === dir) return undefined;
  }
}

async function bundled() {
  const dir = cacheDir();
  if (!dir) return undefined;
  const out = join(dir, "cli.mjs");
  let builtMs = 0;
  try {
    builtMs = statSync(out).mtimeMs;
  } catch {}
  // The CLI's sources, and the console's server side, which `delayq console` bundles in.
  let consoleMs = 0;
  try {
    consoleMs = statSync(join(here, "..", "..", "console", "assets.ts")).mtimeMs;
  } catch {}
  if (builtMs < Math.max(newestSourceMs(src), consoleMs, statSync(join(here, "..", "package.json")).mtimeMs)) {
    let esbuild;
    try {
      esbuild = await import("esbuild");
    } catch {
      return undefined;
    }
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `cli.${process.pid}.mjs`);
    await esbuild.build({
      entryPoints: [join(src, "cli", "main.ts")],
      outfile: tmp,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      // Loaded only when signing, from node_modules as installed.
      // esbuild itself builds the console's page on demand (delayq console).
      external: ["@aws-sdk/*", "@smithy/*", "esbuild"],
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: "silent",
    });
    renameSync(tmp, out);
  }
  return pathToFileURL(out).href;
}

let entry = await bundled().catch(() => undefined);
if (entry === undefined) {
  const { register } = await import("tsx/esm/api");
  register();
  entry = pathToFileURL(join(src, "cli", "main.ts")).href;
}
const { main } = await import(entry);
// The console's sources, beside the client package in the repository (the bundle lives in node_modules/.cache).
const code = await main(process.argv.slice(2), { consoleDir: join(here, "..", "..", "console") });
// Exit once everything written has been flushed (a pipe reader gets the whole output).
process.stdout.write("", () => process.exit(code));
