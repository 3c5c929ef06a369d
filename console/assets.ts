import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** One file of the console as served. */
export interface ConsoleFile {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

export interface ConsoleAssets {
  /** By path under /console: "/" (the page), "/app.js", "/app.css". */
  files: ReadonlyMap<string, ConsoleFile>;
  /** Bytes of the bundle as served and gzipped (the README states them; a test bounds them). */
  sizes: { js: number; css: number; jsGzip: number; cssGzip: number };
}

/** The console's sources: this folder's src/ (a clone's own files; the bundle is built from them, never committed). */
export const CONSOLE_DIR = dirname(fileURLToPath(import.meta.url));

const cache = new Map<string, Promise<ConsoleAssets>>();

/**
 * Builds the console with esbuild (Preact, uPlot and the page's TypeScript into one ES module and one
 * stylesheet, minified) on first use and keeps it in memory: a fresh clone needs no build step, and
 * what is served always matches the sources. `dir` is where the console's folder is (the launcher of
 * the `delayq` command line passes it, its own bundle being elsewhere).
 */
export function consoleAssets(dir: string = CONSOLE_DIR): Promise<ConsoleAssets> {
  let assets = cache.get(dir);
  if (!assets) {
    assets = build(dir);
    cache.set(dir, assets);
    assets.catch(() => cache.delete(dir));
  }
  return assets;
}

async function build(dir: string): Promise<ConsoleAssets> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: { app: join(dir, "src", "main.tsx") },
    absWorkingDir: dir,
    outdir: join(dir, "dist"),
    write: false,
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2022", "chrome110", "firefox110", "safari16"],
    jsx: "automatic",
    jsxImportSource: "preact",
    legalComments: "none",
    logLevel: "silent",
  });
  const files = new Map<string, ConsoleFile>();
  const html = readFileSync(join(dir, "src", "index.html"));
  files.set("/", { body: new Uint8Array(html), contentType: "text/html; charset=utf-8" });
  let js: Uint8Array = new Uint8Array();
  let css: Uint8Array = new Uint8Array();
  for (const out of result.outputFiles) {
    if (out.path.endsWith(".js")) js = new Uint8Array(out.contents);
    else if (out.path.endsWith(".css")) css = new Uint8Array(out.contents);
  }
  files.set("/app.js", { body: new Uint8Array(js), contentType: "text/javascript; charset=utf-8" });
  files.set("/app.css", { body: new Uint8Array(css), contentType: "text/css; charset=utf-8" });
  return {
    files,
    sizes: { js: js.byteLength, css: css.byteLength, jsGzip: gzipSync(js).byteLength, cssGzip: gzipSync(css).byteLength },
  };
}

/**
 * What a console page may do: load its own script and style, call its own origin (the JSON API and
 * /metrics), nothing else; no framing (so no page can overlay its buttons), no referrer.
 */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** The answer for GET `path` (under /console), or undefined when the console has no such file. */
export async function consoleResponse(path: string, requestId: string, dir?: string, head = false): Promise<Response | undefined> {
  const rest = path === "/console" ? "/" : path.slice("/console".length);
  const assets = await consoleAssets(dir);
  const file = assets.files.get(rest);
  if (!file) return undefined;
  return new Response(head ? null : file.body, {
    status: 200,
    headers: { ...CONSOLE_HEADERS, "content-type": file.contentType, "content-length": String(file.body.byteLength), "x-request-id": requestId },
  });
}
