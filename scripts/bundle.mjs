// Bundles the CLI (src/bin.ts) into dist/cli/, the program `acr-cache-cleaner` runs. Start-up was mostly loading and
// compiling code: hundreds of module files at first (zod alone is about 220), then the chunks of a split bundle. Now
// it is one CommonJS file, main.cjs, that the program (scripts/cliProgram.cjs, installed as acr-cache-cleaner.js)
// compiles with a V8 code cache recorded here from a run on examples/: a start deserializes compiled code instead of
// compiling it. What a run does not need still does not run: each module reached through an `import()` (zod and the
// pass for any run but --help, each Azure adapter for a live run) is evaluated on its first import. The Azure SDKs and
// OpenTelemetry are not bundled: a live run requires them from node_modules.
// The Functions app (dist/index.js) is not bundled: `tsc -p tsconfig.build.json` builds it.
// Usage: node scripts/bundle.mjs [--out DIR]   (npm run build runs it after tsc)
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
export const CLI_DIR = join(root, 'dist', 'cli');
/** The file `bin` names in package.json. */
export const CLI_PROGRAM = 'acr-cache-cleaner.js';
/** The bundle the program compiles; its source map and code cache are beside it (`.map`, `.cache`). */
export const CLI_BUNDLE = 'main.cjs';
/** Packages loaded from node_modules at run time rather than bundled (only live runs load them). */
export const UNBUNDLED = ['@azure/*', '@opentelemetry/*'];
/** The run whose compiled code the cache holds: the shipped example, offline (what most of a run compiles). */
const TRAINING_RUN = ['--log-dir', 'examples/logs', '--inventory', 'examples/inventory.json', '--now', '2026-11-27T02:30:00Z', '--output', 'json'];

/** Writes the bundle into `outdir` (emptied first); returns esbuild's metafile (which inputs the bundle holds). */
export async function bundleCli(outdir = CLI_DIR) {
  outdir = resolve(outdir);
  rmSync(outdir, { recursive: true, force: true });
  const bundle = join(outdir, CLI_BUNDLE);
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/bin.ts'],
    outfile: bundle,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: UNBUNDLED,
    // The program reads the map itself, and only to format a stack trace: no sourceMappingURL comment.
    sourcemap: 'external',
    sourcesContent: false,
    // Less to read and to compile; names stay as they are (error messages name them), and stack traces are mapped.
    minifyWhitespace: true,
    metafile: true,
    logLevel: 'warning',
    // A CommonJS bundle has no import.meta (esbuild would leave it empty, and a path made from it wrong): refuse.
    logOverride: { 'empty-import-meta': 'error' },
  });
  // The program compiles the bundle inside a function, where a `#!` line is not allowed; `//` keeps the line count.
  const code = readFileSync(bundle, 'utf8').replace(/^#!/, '//');
  // The program reads the bundle as Latin-1, which is quicker than UTF-8 and the same text for ASCII: esbuild escapes
  // anything else in strings and drops the comments that held some.
  if (/[^\p{ASCII}]/u.test(code)) throw new Error(`${bundle} holds a character beyond ASCII: the program would read it wrong`);
  writeFileSync(bundle, code);
  // The program is CommonJS (Node then starts no ES module loader), in a package of the repository's, which is ESM.
  writeFileSync(join(outdir, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
  const program = join(outdir, CLI_PROGRAM);
  copyFileSync(join(import.meta.dirname, 'cliProgram.cjs'), program);
  chmodSync(program, 0o755);
  recordCodeCache(program);
  return result.metafile;
}

/**
 * Runs the program once on the shipped example, in a Node like the one that will run it (this one), and writes what
 * V8 compiled in that run (the start, zod and the schemas, the reader, the planner, the report) as its code cache.
 */
function recordCodeCache(program) {
  const record = `
    const { compile, run, writeCodeCache } = require(${JSON.stringify(program)});
    const script = compile();
    process.on('exit', () => writeCodeCache(script));
    process.argv.splice(1, Infinity, ${JSON.stringify(program)}, ...${JSON.stringify(TRAINING_RUN)});
    run(script);`;
  execFileSync(process.execPath, ['-e', record], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: CLI_DIR } } });
  await bundleCli(values.out);
}
