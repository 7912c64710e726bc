// Bundles the CLI (src/bin.ts) into dist/cli/, the program `acr-cache-cleaner` runs: resolving and loading some
// hundreds of module files (zod alone is about 220) was most of its start-up. Code splitting keeps the lazy
// imports lazy: what `--help` needs is in the entry chunk, zod and the pass in chunks an actual run loads, and
// each Azure adapter in a chunk loaded only when a live run first uses it. The Azure SDKs and OpenTelemetry are
// not bundled: they load from node_modules as before, only in a live run.
// The Functions app (dist/index.js) is not bundled: `tsc -p tsconfig.build.json` builds it.
// Usage: node scripts/bundle.mjs [--out DIR]   (npm run build runs it after tsc)
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
export const CLI_DIR = join(root, 'dist', 'cli');
/** The file `bin` names in package.json. */
export const CLI_PROGRAM = 'acr-cache-cleaner.js';
/** Packages loaded from node_modules at run time rather than bundled (only live runs load them). */
export const UNBUNDLED = ['@azure/*', '@opentelemetry/*'];

// The program itself is this stub: source maps must be on before the bundle loads for its stack traces to name
// src/ lines, and `node --enable-source-maps` cannot be asked for portably from a shebang.
const PROGRAM = `#!/usr/bin/env node
// Built by scripts/bundle.mjs: the acr-cache-cleaner command. Its code is in main.js and chunks/.
process.setSourceMapsEnabled(true);
await import('./main.js');
`;

/** Writes the bundle into `outdir` (emptied first); returns esbuild's metafile (which inputs each output holds). */
export async function bundleCli(outdir = CLI_DIR) {
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { main: 'src/bin.ts' },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: UNBUNDLED,
    chunkNames: 'chunks/[name]-[hash]',
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
  });
  dropDependencyOnlyMaps(result.metafile);
  const program = join(outdir, CLI_PROGRAM);
  writeFileSync(program, PROGRAM);
  chmodSync(program, 0o755);
  return result.metafile;
}

/**
 * Node reads and parses the source map of each module as it loads it, and zod's alone is 450 KB: a chunk that holds
 * only dependencies keeps no map (its stack frames name the chunk; the frames of this project's code still map).
 */
function dropDependencyOnlyMaps(metafile) {
  for (const [output, { inputs }] of Object.entries(metafile.outputs)) {
    const sources = Object.keys(inputs);
    if (!output.endsWith('.js') || sources.length === 0 || !sources.every((source) => source.startsWith('node_modules/'))) continue;
    const file = join(root, output);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\n?$/, '\n'));
    rmSync(`${file}.map`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: CLI_DIR } } });
  await bundleCli(values.out);
}
