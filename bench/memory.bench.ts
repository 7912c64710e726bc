/**
 * Memory of one night's run of the Functions job, sized for choosing the instance memory and the heap flag.
 * The same synthetic night as bench/e2e.bench.ts (Azurite with 7 days of archived logs, the ACR emulator in its
 * own process with ACR Standard's limits scaled in time by --scale), but the cleaner runs `runCleanupJob`, the
 * code the timer runs: settings, run lease, logs, listing, plan, the audit report written after planning and
 * again at the end, and every planned deletion: more than a night does (a night stops at TIME_BUDGET_SECONDS,
 * about 11,000 deletions at ACR Standard's rate), so the figures bound a real run from above. It samples the
 * live heap (heapUsed right after a forced full GC) at every log message and every SAMPLE_MS (0: only at log
 * messages, so V8 collects as it would on its own), and the RSS every 50 ms.
 *
 * Usage: npm run bench:memory [-- --manifests 100000 --repositories 5000 --records-per-day 1000000 --scale 100
 *                                  --runs 0:2000[,1024:0,…]]
 *   --runs: one cleaner run per HEAP_LIMIT_MB:SAMPLE_MS, in turn, on the same registry and logs (limit 0: V8's default)
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { inventoryToSnapshot } from '../src/inventory.js';
import { runCleanupJob } from '../src/job.js';
import { LOG_CONTAINER } from '../test/support/archiveUpload.js';
import { startAzurite } from '../test/support/azurite.js';
import { rssSampler, runMeasured, startEmulatorProcess } from '../test/support/processes.js';
import { buildRegistry, NOW, uploadLogs, type Scenario } from './syntheticNight.js';

const MiB = 2 ** 20;

if (process.env.BENCH_MEMORY_CHILD === undefined) {
  const { values } = parseArgs({
    options: {
      manifests: { type: 'string', default: '100000' },
      repositories: { type: 'string' },
      'records-per-day': { type: 'string', default: '1000000' },
      scale: { type: 'string', default: '100' },
      runs: { type: 'string', default: '0:2000' },
    },
  });
  const manifests = Number(values.manifests);
  const scenario: Scenario = { recordsPerDay: Number(values['records-per-day']), manifests, repositories: Number(values.repositories ?? Math.round(manifests / 20)), scale: Number(values.scale) };
  const { inventory, active } = buildRegistry(scenario);
  const directory = await mkdtemp(join(tmpdir(), 'bench-memory-'));
  const seed = join(directory, 'seed.json');
  await writeFile(seed, JSON.stringify(inventoryToSnapshot(inventory)));
  const windowMs = Math.round(60_000 / scenario.scale);
  const azurite = await startAzurite();
  try {
    const logs = await uploadLogs(azurite.connectionString, active, scenario.recordsPerDay);
    const count = inventory.repositories.reduce((sum, repository) => sum + repository.manifests.length, 0);
    console.log(`setup: ${scenario.repositories} repositories, ${count} manifests; ${logs.records} records (${(logs.bytes / 1e9).toFixed(2)} GB); limits scaled ${scenario.scale}x`);
    // One cleaner run per HEAP_LIMIT_MB:SAMPLE_MS, one after the other, each on a fresh copy of the registry.
    for (const run of values.runs.split(',')) {
      const emulator = await startEmulatorProcess(['--seed', seed, '--latency-ms', '20', '--read-limit', '5000', '--delete-limit', '500', '--window-ms', String(windowMs)]);
      const [limit, sampleMs] = run.split(':');
      const cap = limit === '0' ? '' : ` --max-old-space-size=${limit}`;
      console.log(`--- cleaner with ${cap === '' ? "V8's default heap limit" : cap.trim()}, ${sampleMs === '0' ? 'no forced GC between log messages' : `a forced GC every ${sampleMs} ms`}`);
      await runMeasured(import.meta.filename, {
        NODE_OPTIONS: `--expose-gc${cap}`,
        BENCH_MEMORY_CHILD: '1',
        NODE_EXTRA_CA_CERTS: emulator.caFile,
        BENCH_SETTINGS: JSON.stringify({
          AzureWebJobsStorage: azurite.connectionString,
          CONTAINER_REGISTRY: emulator.endpoint,
          CREDENTIAL: 'emulator',
          LOG_STORAGE_ACCOUNT: azurite.connectionString,
          LOG_STORAGE_ACCOUNT_CONTAINER: LOG_CONTAINER,
          MAX_DELETE_PERCENT: '100',
          CONCURRENCY: '16',
          READS_PER_MINUTE: String(5000 * scenario.scale),
          DELETES_PER_MINUTE: String(500 * scenario.scale),
            TIME_BUDGET_SECONDS: '3600',
        }),
        BENCH_SAMPLE_MS: sampleMs ?? '0',
      })
        .catch((error: unknown) => console.log(`the cleaner process failed: ${(error as Error).message}`))
        .finally(() => emulator.stop());
    }
  } finally {
    await azurite.stop();
  }
} else {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const rss = rssSampler();
  let liveHeapPeak = 0;
  const sampleLiveHeap = () => {
    gc();
    liveHeapPeak = Math.max(liveHeapPeak, process.memoryUsage().heapUsed);
  };
  const sampleMs = Number(process.env.BENCH_SAMPLE_MS);
  const sampler = sampleMs > 0 ? setInterval(sampleLiveHeap, sampleMs) : undefined;
  const started = performance.now();
  const marks: string[] = [];
  const result = await runCleanupJob(JSON.parse(process.env.BENCH_SETTINGS!) as Record<string, string>, {
    invocationId: 'bench-memory',
    trigger: 'timer',
    clock: () => NOW,
    log: (message) => {
      sampleLiveHeap();
      marks.push(`  ${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s  live heap ${(process.memoryUsage().heapUsed / MiB).toFixed(0).padStart(5)} MiB  rss ${(process.memoryUsage().rss / MiB).toFixed(0).padStart(5)} MiB  ${message.slice(0, 100)}`);
    },
  });
  if (sampler) clearInterval(sampler);
  sampleLiveHeap();
  rss.stop();
  const report = result.report;
  console.log(marks.join('\n'));
  console.log(`cleaner process: node ${process.env.NODE_OPTIONS ?? ''}; V8 heap limit ${(getHeapStatistics().heap_size_limit / MiB).toFixed(0)} MiB`);
  console.log(
    `job: ${result.outcome} in ${((performance.now() - started) / 1000).toFixed(0)} s; ${report?.summary.manifests} manifests, ${report?.summary.toDelete} planned, ${report?.execution?.deleted.length} deleted, ${report?.execution?.leftForNextRun} left for the next run`,
  );
  console.log(`memory: peak live heap ${(liveHeapPeak / MiB).toFixed(0)} MiB (sampled after a full GC), peak RSS ${(rss.peak() / MiB).toFixed(0)} MiB`);
}
