/**
 * Log-parsing benchmark, on the two record shapes of bench/logParsingData.ts (compact, and spaced with a nested
 * `identity` and escaped user agents), each at two sizes:
 * - the reader alone (the `--log-dir` source the CLI uses, as tsc compiles it into dist/; the command runs the same
 *   code bundled), in a fresh process per measurement: throughput by wall clock and by CPU time, peak RSS (memory
 *   must stay flat as the file doubles), the share of records that took the byte-level fast path;
 * - side by side with the original script's loop (bench/python_baseline.py), alternating runs in the same run;
 * - the CLI end to end on the spaced file (a whole `acr-cache-cleaner` process against a whole Python process);
 * - start-up: `--help` and an offline run on the shipped example.
 * Everything runs on one core (`taskset`, when the machine has it). The machine may be shared: ratios measured
 * side by side are more trustworthy than absolute figures, CPU time more than wall clock.
 * Usage: npm run bench [-- --mb 200] [--runs 3]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, linkSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { LocalDirLogSource as LogSource } from '../src/accessLog/sources/localDir.js';
import { BENCH_NOW, DAY_MS, ensureLogFile, SHAPES, type RecordShape } from './logParsingData.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '200' }, runs: { type: 'string', default: '3' }, measure: { type: 'string' } } });
const root = join(import.meta.dirname, '..');

interface Measurement {
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  records: number;
  accesses: number;
  fastPath: number;
  maxRssMiB: number;
}

/** In the child: one read of the file through the log source of `--log-dir` (the folder, this file only), as built. */
async function measureOnce(path: string): Promise<Measurement> {
  const built = pathToFileURL(join(root, 'dist', 'accessLog', 'sources', 'localDir.js')).href;
  const { LocalDirLogSource } = (await import(built)) as { LocalDirLogSource: typeof LogSource };
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const { stats } = await new LocalDirLogSource(dirname(path), basename(path)).read({ window: { startMs: BENCH_NOW.getTime() - 7 * DAY_MS, endMs: BENCH_NOW.getTime() }, registryName: 'cicache' });
  const used = process.cpuUsage(cpu);
  return {
    bytes: stats.bytesRead,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    cpuSeconds: (used.user + used.system) / 1e6,
    records: stats.records,
    accesses: stats.accessesCounted,
    fastPath: stats.fastPathRecords,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

if (values.measure !== undefined) {
  console.log(JSON.stringify(await measureOnce(values.measure)));
  process.exit(0);
}

const ONE_CORE = existsSync('/usr/bin/taskset') ? ['taskset', '-c', '1'] : [];
const runs = Number(values.runs);

function run(command: string[], options: { cwd?: string } = {}): { stdout: string; seconds: number } {
  const [program, ...args] = [...ONE_CORE, ...command];
  const started = process.hrtime.bigint();
  const result = spawnSync(program!, args, { encoding: 'utf8', cwd: options.cwd ?? root, maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed: ${result.stderr}`);
  return { stdout: result.stdout, seconds };
}

function reader(path: string): Measurement {
  return JSON.parse(run([process.execPath, '--import', 'tsx', join(import.meta.dirname, 'logParsing.bench.ts'), '--measure', path]).stdout) as Measurement;
}

function python(path: string): { mbPerSecond: number; cpuMbPerSecond: number; accesses: number } | undefined {
  try {
    const { stdout } = run(['python3', join(import.meta.dirname, 'python_baseline.py'), path]);
    const match = /: (\d+) MB in ([\d.]+) s = \d+ MB\/s \(CPU ([\d.]+) s\), (\d+) accesses/.exec(stdout)!;
    const megabytes = Number(match[1]);
    return { mbPerSecond: megabytes / Number(match[2]), cpuMbPerSecond: megabytes / Number(match[3]), accesses: Number(match[4]) };
  } catch {
    return undefined;
  }
}

const mb = (bytes: number) => bytes / 1e6;
const fixed = (value: number, digits = 0) => value.toFixed(digits);
const median = (numbers: number[]) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)]!;

// The reader and the CLI are measured as built (`npm run build`): the CLI as the bundle `acr-cache-cleaner` runs.
execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
const program = join(root, (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['acr-cache-cleaner']!);

const targetMb = Number(values.mb);
const sizes = [targetMb / 2, targetMb];
const files = new Map<RecordShape, string[]>();
for (const shape of SHAPES) files.set(shape, await Promise.all(sizes.map((megabytes) => ensureLogFile(shape, megabytes))));

console.log(`log parsing (node ${process.version}, ${ONE_CORE.length > 0 ? 'one core (taskset -c 1)' : 'no taskset: not pinned'}, best of ${runs}, each read in a fresh process)`);
for (const shape of SHAPES) {
  for (const path of files.get(shape)!) {
    const measured = Array.from({ length: runs }, () => reader(path));
    const best = measured.reduce((a, b) => (a.seconds < b.seconds ? a : b));
    const bestCpu = Math.min(...measured.map((m) => m.cpuSeconds));
    console.log(
      `${shape.padEnd(7)} ${fixed(mb(best.bytes)).padStart(4)} MB: ${best.records} records, ${best.accesses} accesses, ${fixed((100 * best.fastPath) / best.records, 1)}% on the fast path; ${fixed(mb(best.bytes) / best.seconds)} MB/s (${fixed(best.seconds, 2)} s), by CPU time ${fixed(mb(best.bytes) / bestCpu)} MB/s; peak RSS ${fixed(Math.max(...measured.map((m) => m.maxRssMiB)))} MiB`,
    );
  }
}

console.log(`\nside by side with the Python json.loads loop on the ${targetMb} MB files, alternating, best of ${runs} each:`);
for (const shape of SHAPES) {
  const path = files.get(shape)![1]!;
  const ours: Measurement[] = [];
  const theirs: NonNullable<ReturnType<typeof python>>[] = [];
  for (let i = 0; i < runs; i++) {
    const baseline = python(path);
    if (baseline === undefined) break;
    theirs.push(baseline);
    ours.push(reader(path));
  }
  if (theirs.length === 0) {
    console.log('python3 not available: no side-by-side baseline');
    break;
  }
  if (theirs[0]!.accesses !== ours[0]!.accesses) console.log(`  (counts differ: Python ${theirs[0]!.accesses}, this reader ${ours[0]!.accesses})`);
  const pythonWall = Math.max(...theirs.map((t) => t.mbPerSecond));
  const pythonCpu = Math.max(...theirs.map((t) => t.cpuMbPerSecond));
  const oursWall = Math.max(...ours.map((m) => mb(m.bytes) / m.seconds));
  const oursCpu = Math.max(...ours.map((m) => mb(m.bytes) / m.cpuSeconds));
  console.log(
    `${shape.padEnd(7)} Python ${fixed(pythonWall)} MB/s, this reader ${fixed(oursWall)} MB/s = ${fixed(oursWall / pythonWall, 2)}x by wall clock; by CPU time ${fixed(pythonCpu)} vs ${fixed(oursCpu)} MB/s = ${fixed(oursCpu / pythonCpu, 2)}x`,
  );
}

// The CLI as a user runs it (the built command), end to end on the spaced file: start-up, the whole read,
// an inventory snapshot, the plan and the report, against the whole Python process on the same file.
const cliDir = join(import.meta.dirname, '.data', 'cli-spaced');
await rm(cliDir, { recursive: true, force: true });
await mkdir(join(cliDir, 'logs'), { recursive: true });
const spacedFile = files.get('spaced')![1]!;
linkSync(spacedFile, join(cliDir, 'logs', 'PT1H.json'));
const inventory = join(cliDir, 'inventory.json');
await writeFile(inventory, JSON.stringify({ registry: 'cicache.azurecr.io', repositories: [] }));
const cli = [process.execPath, program, '--log-dir', join(cliDir, 'logs'), '--inventory', inventory, '--now', BENCH_NOW.toISOString(), '--output', 'json'];
const cliSeconds: number[] = [];
const pythonSeconds: number[] = [];
for (let i = 0; i < runs; i++) {
  try {
    pythonSeconds.push(run(['python3', join(import.meta.dirname, 'python_baseline.py'), spacedFile]).seconds);
  } catch {
    // no python3
  }
  cliSeconds.push(run(cli).seconds);
}
const spacedMb = mb((await stat(spacedFile)).size);
console.log(
  `\nCLI end to end on the ${fixed(spacedMb)} MB spaced file (acr-cache-cleaner --log-dir … --inventory …, a whole process), best of ${runs}: ${fixed(Math.min(...cliSeconds), 2)} s` +
    (pythonSeconds.length > 0 ? `; the Python script's loop as a whole process ${fixed(Math.min(...pythonSeconds), 2)} s = ${fixed(Math.min(...pythonSeconds) / Math.min(...cliSeconds), 2)}x` : ''),
);

const startups = (args: string[]) => Array.from({ length: 10 }, () => run([process.execPath, program, ...args]).seconds);
const help = startups(['--help']);
const offline = startups(['--log-dir', 'examples/logs', '--inventory', 'examples/inventory.json', '--now', '2026-11-27T02:30:00Z']);
const bare = Array.from({ length: 10 }, () => run([process.execPath, '-e', '0']).seconds);
console.log(
  `start-up, 10 runs each (min / median): node -e 0 ${fixed(Math.min(...bare), 3)} / ${fixed(median(bare), 3)} s; acr-cache-cleaner --help ${fixed(Math.min(...help), 3)} / ${fixed(median(help), 3)} s; offline run on examples/ ${fixed(Math.min(...offline), 3)} / ${fixed(median(offline), 3)} s`,
);
