import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The one file the door's asset holds: local/amqp-main.ts with every dependency, the AWS SDK included. */
export const AMQP_DOOR_BUNDLE_FILE = "amqp-main.mjs";

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
const CODEC = join(PROJECT_ROOT, "core", "amqp", "codec.ts");

/**
 * core/amqp/codec.ts loads amqplib's spec-generated codec by path (the package's `exports` map hides it),
 * which a bundle cannot follow. For the bundle those three `require`s become static imports of the same
 * files, which esbuild inlines. The exact lines are matched, so a change to them fails the bundle loudly.
 */
const CODEC_LOADER = `const require = createRequire(import.meta.url);
const root = dirname(require.resolve("amqplib"));
const defs = require(join(root, "lib", "defs.js")) as AmqplibDefs;
const frame = require(join(root, "lib", "frame.js")) as AmqplibFrame;
const codec = require(join(root, "lib", "codec.js")) as AmqplibCodec;`;

function staticCodecSource(): string {
  const source = readFileSync(CODEC, "utf8");
  if (!source.includes(CODEC_LOADER)) throw new Error(`${CODEC}: the amqplib loader changed; update infra/amqp-door-bundle.ts`);
  const amqplib = dirname(createRequire(import.meta.url).resolve("amqplib"));
  const lib = (file: string) => JSON.stringify(join(amqplib, "lib", file));
  return source.replace(
    CODEC_LOADER,
    `import __defs from ${lib("defs.js")};
import __frame from ${lib("frame.js")};
import __codec from ${lib("codec.js")};
const defs = __defs as unknown as AmqplibDefs;
const frame = __frame as unknown as AmqplibFrame;
const codec = __codec as unknown as AmqplibCodec;`,
  );
}

/**
 * Bundles the door's container entry point with the local esbuild (no Docker): one ESM file for Node.js
 * 22 on any architecture (no native modules), minified, with an inline source map.
 */
export async function bundleAmqpDoor(outdir: string): Promise<string> {
  const { build } = await import("esbuild");
  const outfile = join(outdir, AMQP_DOOR_BUNDLE_FILE);
  await build({
    entryPoints: [join(PROJECT_ROOT, "local", "amqp-main.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    minify: true,
    sourcemap: "inline",
    sourcesContent: false,
    legalComments: "none",
    logLevel: "warning",
    // CommonJS dependencies inside the ESM bundle call `require` for Node built-ins.
    banner: { js: "import { createRequire as __delayqCreateRequire } from 'node:module'; const require = __delayqCreateRequire(import.meta.url);" },
    plugins: [
      {
        name: "amqplib-codec-static",
        setup(b) {
          b.onLoad({ filter: /core[\\/]amqp[\\/]codec\.ts$/ }, () => ({ contents: staticCodecSource(), loader: "ts", resolveDir: dirname(CODEC) }));
        },
      },
    ],
  });
  return outfile;
}

/** The synchronous form CDK's local bundling needs: runs this file in a child process. */
export function bundleAmqpDoorSync(outdir: string): void {
  execFileSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), outdir], { cwd: PROJECT_ROOT, stdio: ["ignore", "inherit", "inherit"] });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outdir = process.argv[2];
  if (!outdir) throw new Error("usage: amqp-door-bundle.ts <outdir>");
  await bundleAmqpDoor(outdir);
}
