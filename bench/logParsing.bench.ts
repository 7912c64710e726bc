/**
 * Log-parsing benchmark: reads a generated JSON-lines file in the real record shape through the same
 * reader the pass uses, and reports throughput and peak RSS at two file sizes (memory must stay flat).
 * Usage: npm run bench [-- --mb 200]
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AccessCounts, LogStats } from '../src/accessLog/counts.js';
import { readLogStream } from '../src/accessLog/logFile.js';
import { logRecord, prng, randomDigest } from '../test/support/syntheticCache.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '200' } } });
const targetMb = Number(values.mb);
const dataDir = join(import.meta.dirname, '.data');
const now = new Date('2026-11-27T02:00:00Z');

async function ensureFile(megabytes: number): Promise<string> {
  const path = join(dataDir, `access-v2-${megabytes}mb.json`);
  const existing = await stat(path).catch(() => undefined);
  if (existing && existing.size >= megabytes * 1e6) return path;
  await mkdir(dataDir, { recursive: true });
  const random = prng(megabytes);
  // A cache registry: each digest lives in one repository; the log is in time order, as hourly blobs are.
  const manifests = Array.from({ length: 20_000 }, (_, index) => ({ repository: `ci/team-${index % 97}/component-${index % 13}`, digest: randomDigest(random) }));
  const linesWanted = Math.ceil((megabytes * 1e6) / 1000);
  const startMs = now.getTime() - 7 * 86_400_000;
  const out = createWriteStream(path);
  let written = 0;
  let i = 0;
  while (written < megabytes * 1e6) {
    const lines: string[] = [];
    for (let k = 0; k < 1000; k++, i++) {
      const manifest = manifests[Math.floor(random() ** 2 * manifests.length)]!;
      const record = logRecord({
        time: new Date(startMs + Math.floor((i / linesWanted) * 7 * 86_400_000)),
        operationName: random() < 0.9 ? 'Pull' : 'Push',
        repository: manifest.repository,
        digest: manifest.digest,
        tag: random() < 0.5 ? 'buildcache' : undefined,
        resultDescription: random() < 0.03 ? '404' : undefined,
        registry: 'cicache',
      });
      lines.push(JSON.stringify(record));
    }
    const chunk = lines.join('\n') + '\n';
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
  return path;
}

async function measure(path: string) {
  const size = (await stat(path)).size;
  globalThis.gc?.();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const counts = new AccessCounts();
  const stats = new LogStats();
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  await readLogStream(path, createReadStream(path, { highWaterMark: 256 * 1024 }), { window: { startMs: now.getTime() - 7 * 86_400_000, endMs: now.getTime() } }, counts, stats);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return { size, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, records: stats.records, accesses: stats.accessesCounted, peakRss };
}

const sizes = [targetMb / 2, targetMb];
for (const megabytes of sizes) await ensureFile(megabytes);
console.log(`log parsing (node ${process.version}, one thread)`);
for (const megabytes of sizes) {
  const path = await ensureFile(megabytes);
  const runs = [await measure(path), await measure(path), await measure(path)];
  const best = runs.reduce((a, b) => (a.seconds < b.seconds ? a : b));
  const mbPerSecond = best.size / 1e6 / best.seconds;
  console.log(
    `${(best.size / 1e6).toFixed(0).padStart(5)} MB: ${best.records} records, ${best.accesses} accesses, best of 3 ${best.seconds.toFixed(2)} s = ${mbPerSecond.toFixed(0)} MB/s (CPU ${best.cpuSeconds.toFixed(2)} s), peak RSS ${(Math.max(...runs.map((run) => run.peakRss)) / 2 ** 20).toFixed(0)} MiB`,
  );
}

// The original script's approach on the same file, when Python is here: json.loads per line, the same filter.
// Best of 3 on each side, alternating, so that the ratio does not depend on one noisy run.
const file = await ensureFile(targetMb);
const pythonRuns: number[] = [];
const ourRuns: number[] = [];
for (let run = 0; run < 3; run++) {
  const baseline = spawnSync('python3', [join(import.meta.dirname, 'python_baseline.py'), file], { encoding: 'utf8' });
  if (baseline.status !== 0) break;
  pythonRuns.push(Number(/= (\d+) MB\/s/.exec(baseline.stdout)?.[1]));
  const ours = await measure(file);
  ourRuns.push(ours.size / 1e6 / ours.seconds);
}
if (pythonRuns.length === 3) {
  const python = Math.max(...pythonRuns);
  const ours = Math.max(...ourRuns);
  console.log(`side by side on the ${targetMb} MB file, best of 3 each: Python json.loads loop ${python.toFixed(0)} MB/s, this reader ${ours.toFixed(0)} MB/s = ${(ours / python).toFixed(2)} x`);
} else {
  console.log('python3 not available: no side-by-side baseline');
}
