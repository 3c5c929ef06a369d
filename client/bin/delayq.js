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

/** Bundles `entry` into the cache as `name` when a source in `watched` is newer; undefined without esbuild or a cache. */
async function bundled(name, entry, watchedMs, external) {
  const dir = cacheDir();
  if (!dir) return undefined;
  const out = join(dir, name);
  let builtMs = 0;
  try {
    builtMs = statSync(out).mtimeMs;
  } catch {}
  if (builtMs < watchedMs) {
    let esbuild;
    try {
      esbuild = await import("esbuild");
    } catch {
      return undefined;
    }
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `${name}.${process.pid}.mjs`);
    await esbuild.build({
      entryPoints: [entry],
      outfile: tmp,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      external,
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: "silent",
    });
    renameSync(tmp, out);
  }
  return pathToFileURL(out).href;
}

const packageMs = statSync(join(here, "..", "package.json")).mtimeMs;
// Loaded only when signing, from node_modules as installed.
let entry = await bundled("cli.mjs", join(src, "cli", "main.ts"), Math.max(newestSourceMs(src), packageMs), ["@aws-sdk/*", "@smithy/*"]).catch(() => undefined);
// `delayq console` serves the web console of the repository's console/ (its page is built from there by esbuild).
const consoleDir = join(here, "..", "..", "console");
let consoleAssets;
try {
  const assets = join(consoleDir, "assets.ts");
  consoleAssets = entry && (await bundled("console-assets.mjs", assets, Math.max(statSync(assets).mtimeMs, packageMs), ["esbuild"]).catch(() => undefined));
  consoleAssets ??= pathToFileURL(assets).href;
} catch {}
if (entry === undefined || (consoleAssets ?? "").endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
  entry ??= pathToFileURL(join(src, "cli", "main.ts")).href;
}
const { main } = await import(entry);
const code = await main(process.argv.slice(2), consoleAssets ? { console: { assetsModule: consoleAssets, dir: consoleDir } } : {});
// Exit once everything written has been flushed (a pipe reader gets the whole output).
process.stdout.write("", () => process.exit(code));
