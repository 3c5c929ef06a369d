#!/usr/bin/env node
// The delayq command line. It runs from the TypeScript sources through tsx, so a fresh clone needs no
// build step: `npm install`, then `npx delayq --help`.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const code = await main(process.argv.slice(2));
// Exit once everything written has been flushed (a pipe reader gets the whole output).
process.stdout.write("", () => process.exit(code));
