import fc from 'fast-check';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { inventoryToSnapshot, type Inventory, type ManifestInfo } from '../src/inventory.js';
import { runPass } from '../src/pass.js';
import { unusableShare } from '../src/plan/guards.js';
import type { PassReport } from '../src/report.js';
import { createPassDependencies } from '../src/wiring.js';
import { DAY, digestOf, manifest, NOW } from './support/builders.js';
import { archiveBlobs, logRecord, prng, type LogRecordInput } from './support/syntheticCache.js';

/**
 * Issue 10's property: logs mutated at random (fields dropped or renamed, records wrapped, case changed, files
 * compressed, lines truncated, future-dated or garbage lines injected) either make the pass refuse, or every
 * deletion it plans is also planned from the unmutated logs — except where the unusable records stay under
 * LOG_MAX_UNUSABLE_PERCENT, and then the report names them.
 */

type LogFiles = Map<string, Buffer>;
type Random = () => number;

interface Mutation {
  name: string;
  apply(files: LogFiles, random: Random, inventory: Inventory): void;
}

// ---- helpers over the log files -------------------------------------------------------------------------------

const pick = <T>(items: readonly T[], random: Random): T => items[Math.floor(random() * items.length)]!;
const textOf = (files: LogFiles, path: string) => files.get(path)!.toString('utf8');
const linesOf = (files: LogFiles, path: string) => textOf(files, path).split('\n').filter((line, index, all) => line !== '' || index < all.length - 1);
const setLines = (files: LogFiles, path: string, lines: string[]) => files.set(path, Buffer.from(lines.join('\n') + '\n'));
const plainFiles = (files: LogFiles) => [...files.keys()].filter((path) => files.get(path)![0] !== 0x1f);
const isPull = (line: string) => line.includes('"operationName":"Pull"') && line.includes('"resultDescription":"200"');

/** Edits one JSON line of a plain file chosen at random (a pull if there is one). */
function editLine(files: LogFiles, random: Random, edit: (record: Record<string, unknown>) => unknown): void {
  const candidates = plainFiles(files).flatMap((path) => linesOf(files, path).map((line, index) => ({ path, line, index }))).filter(({ line }) => line.startsWith('{"time"'));
  if (candidates.length === 0) return;
  const pulls = candidates.filter(({ line }) => isPull(line));
  const { path, line, index } = pick(pulls.length > 0 ? pulls : candidates, random);
  const lines = linesOf(files, path);
  const record = JSON.parse(line) as Record<string, unknown>;
  const replaced = edit(record);
  lines[index] = typeof replaced === 'string' ? replaced : JSON.stringify(replaced ?? record);
  setLines(files, path, lines);
}

function insertLine(files: LogFiles, random: Random, line: string): void {
  const path = pick(plainFiles(files), random);
  if (path === undefined) return;
  const lines = linesOf(files, path);
  lines.splice(Math.floor(random() * (lines.length + 1)), 0, line);
  setLines(files, path, lines);
}

/**
 * A record about a manifest of the inventory, at the time of a record already in the logs: an injected record
 * that is not itself damaged must not be newer evidence than the logs hold (that would be new evidence, not a
 * mutation of the old).
 */
function recordFor(files: LogFiles, inventory: Inventory, random: Random, overrides: Partial<LogRecordInput> = {}): Record<string, unknown> {
  const repository = pick(inventory.repositories, random);
  const target = pick(repository.manifests, random);
  const times = plainFiles(files).flatMap((path) => linesOf(files, path).map((line) => /"time":"([^"]+)"/.exec(line)?.[1]).filter((time): time is string => time !== undefined));
  const time = new Date(times.length > 0 ? pick(times, random) : NOW.getTime() - 7 * DAY);
  return logRecord({ time, operationName: 'Pull', repository: repository.name, digest: target.digest, registry: 'cicache', ...overrides });
}

const properties = (record: Record<string, unknown>) => record.properties as Record<string, unknown>;
const FIELDS = ['time', 'category', 'operationName', 'resultType', 'resultDescription', 'properties.repository', 'properties.digest'] as const;
function withField(record: Record<string, unknown>, field: (typeof FIELDS)[number], change: (holder: Record<string, unknown>, key: string) => void): void {
  const [holder, key] = field.startsWith('properties.') ? [properties(record), field.slice('properties.'.length)] : [record, field];
  change(holder, key);
}

// ---- the mutations ----------------------------------------------------------------------------------------------

/** Mutations the evidence helper's branch handles (the reader as it was, plus registry filtering offline). */
const MUTATIONS: Mutation[] = [
  { name: 'garbage line', apply: (files, random) => insertLine(files, random, pick(['not json at all', '{"time":', '\u0000\u0001binary', '[1,2,3]', '{}', '{"records":"nope"}'], random)) },
  { name: "another registry's pull of a manifest here", apply: (files, random, inventory) => insertLine(files, random, JSON.stringify(recordFor(files, inventory, random, { registry: 'othercache' }))) },
  {
    name: "this tool's own pull",
    apply: (files, random, inventory) => {
      const record = recordFor(files, inventory, random);
      properties(record).userAgent = pick(['acr-cache-cleaner/0.1.0 azsdk-js-container-registry/1.1.2', 'azsdk-js-container-registry/1.1.2 acr-cache-cleaner/0.1.0'], random);
      insertLine(files, random, JSON.stringify(record));
    },
  },
  { name: 'failed pull', apply: (files, random, inventory) => insertLine(files, random, JSON.stringify(recordFor(files, inventory, random, { resultDescription: pick(['404', '401', '500'], random) }))) },
  { name: 'duplicated line', apply: (files, random) => editLine(files, random, (record) => `${JSON.stringify(record)}\n${JSON.stringify(record)}`) },
  {
    name: 'lines shuffled',
    apply: (files, random) => {
      const path = pick(plainFiles(files), random);
      if (path !== undefined) setLines(files, path, [...linesOf(files, path)].sort(() => random() - 0.5));
    },
  },
  {
    name: 'CRLF line ends and a byte-order mark',
    apply: (files, random) => {
      const path = pick(plainFiles(files), random);
      if (path !== undefined) files.set(path, Buffer.from(`\uFEFF${textOf(files, path).replaceAll('\n', '\r\n')}`));
    },
  },
  {
    name: 'registry named in upper case',
    apply: (files, random) =>
      editLine(files, random, (record) => {
        record.resourceId = String(record.resourceId).toUpperCase();
        properties(record).loginServer = String(properties(record).loginServer).toUpperCase();
      }),
  },
];

/** Mutations that the log reader itself must see through (wrapping, gzip, case, renamed fields, skew, truncation). */
const READER_MUTATIONS: Mutation[] = [
  { name: 'field dropped', apply: (files, random) => editLine(files, random, (record) => withField(record, pick(FIELDS, random), (holder, key) => delete holder[key])) },
  {
    name: 'field renamed (schema drift)',
    apply: (files, random) =>
      editLine(files, random, (record) =>
        withField(record, pick(FIELDS, random), (holder, key) => {
          holder[key[0]!.toUpperCase() + key.slice(1)] = holder[key];
          delete holder[key];
        }),
      ),
  },
  {
    name: 'records wrapped in {"records":[…]}',
    apply: (files, random) => {
      const path = pick(plainFiles(files), random);
      if (path === undefined) return;
      const lines = linesOf(files, path);
      const start = random() < 0.5 ? 0 : Math.floor(random() * lines.length);
      const count = 1 + Math.floor(random() * 3);
      const wrapped = lines.slice(start, start + count).map((line) => JSON.parse(line) as unknown);
      lines.splice(start, count, JSON.stringify({ records: wrapped }));
      setLines(files, path, lines);
    },
  },
  {
    name: 'repository and digest in upper case',
    apply: (files, random) =>
      editLine(files, random, (record) => {
        properties(record).repository = String(properties(record).repository).toUpperCase();
        properties(record).digest = String(properties(record).digest).replace(/[0-9a-f]{64}$/, (hex) => hex.toUpperCase());
      }),
  },
  {
    name: 'file gzip-compressed',
    apply: (files, random) => {
      const path = pick(plainFiles(files), random);
      if (path !== undefined) files.set(path, gzipSync(files.get(path)!));
    },
  },
  {
    name: 'line truncated mid-file',
    apply: (files, random) => {
      const path = pick(plainFiles(files), random);
      if (path === undefined) return;
      const lines = linesOf(files, path);
      if (lines.length < 2) return;
      const index = Math.floor(random() * (lines.length - 1));
      lines[index] = lines[index]!.slice(0, Math.floor(random() * lines[index]!.length));
      setLines(files, path, lines);
    },
  },
  { name: 'future-dated record', apply: (files, random, inventory) => insertLine(files, random, JSON.stringify(recordFor(files, inventory, random, { time: new Date(NOW.getTime() + (0.1 + random() * 5) * DAY) }))) },
];

const ACTIVE_MUTATIONS = [...MUTATIONS, ...READER_MUTATIONS];

// ---- the scenario and the property --------------------------------------------------------------------------------

/** A small registry (indexes, referrers, fresh and locked manifests) and its logs, from one seed. */
function scenario(seed: number): { inventory: Inventory; records: LogRecordInput[] } {
  const random = prng(seed);
  const old = new Date(NOW.getTime() - 30 * DAY);
  const repositories = ['ci/app', 'ci/tools'].map((name) => {
    const manifests: ManifestInfo[] = [];
    for (let m = 0; m < 10; m++) {
      const label = `${name}-${seed}-${m}`;
      const draw = random();
      const overrides: Partial<ManifestInfo> = { createdOn: old, lastUpdatedOn: old };
      if (draw < 0.15 && m >= 2) overrides.relatedArtifacts = [{ digest: digestOf(`${name}-${seed}-${m - 1}`) }, { digest: digestOf(`${name}-${seed}-${m - 2}`) }];
      else if (draw < 0.3 && m >= 1) Object.assign(overrides, { subject: digestOf(`${name}-${seed}-${Math.floor(random() * m)}`), artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' });
      else if (draw < 0.35) overrides.canDelete = false;
      else if (draw < 0.4) overrides.createdOn = new Date(NOW.getTime() - DAY);
      manifests.push(manifest(label, overrides));
    }
    return { name, manifests };
  });
  const inventory: Inventory = { registry: 'cicache.azurecr.io', repositories };
  const staleHours = random() < 0.2 ? 30 + random() * 48 : random() * 3;
  const records: LogRecordInput[] = [{ time: new Date(NOW.getTime() - staleHours * 3_600_000), operationName: 'Pull', repository: 'heartbeat', digest: digestOf('heartbeat'), registry: 'cicache' }];
  for (const repository of repositories) {
    for (const target of repository.manifests) {
      if (random() < 0.45) continue;
      const pulls = 1 + Math.floor(random() * 3);
      for (let p = 0; p < pulls; p++) {
        const time = new Date(NOW.getTime() - staleHours * 3_600_000 - random() * 6 * DAY);
        records.push({ time, operationName: random() < 0.9 ? 'Pull' : 'Push', repository: repository.name, digest: target.digest, registry: 'cicache' });
      }
    }
  }
  return { inventory, records };
}

async function planOffline(inventory: Inventory, files: LogFiles, unusablePercent: number): Promise<PassReport> {
  const directory = await mkdtemp(join(tmpdir(), 'acr-cache-cleaner-mutated-'));
  for (const [path, bytes] of files) {
    await mkdir(dirname(join(directory, 'logs', path)), { recursive: true });
    await writeFile(join(directory, 'logs', path), bytes);
  }
  await writeFile(join(directory, 'inventory.json'), JSON.stringify(inventoryToSnapshot(inventory)));
  const config = loadConfig({
    LOG_DIR: join(directory, 'logs'),
    INVENTORY_FILE: join(directory, 'inventory.json'),
    MAX_DELETE_PERCENT: '100',
    LOG_MAX_UNUSABLE_PERCENT: String(unusablePercent),
  });
  return runPass(config, createPassDependencies(config, { clock: () => NOW }));
}

const deletedBy = (report: PassReport) => new Set(report.delete.flatMap((entry) => [entry.digest, ...entry.referrers.map((referrer) => referrer.digest)]).map((digest) => digest));

describe('mutated logs never plan a deletion the intact logs would not, unless refused or named', () => {
  it.each(ACTIVE_MUTATIONS.map((mutation) => [mutation.name, mutation] as const))('%s', async (_, mutation) => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom(0.1, 5), async (seed, times, unusablePercent) => {
        const { inventory, records } = scenario(seed);
        const intact: LogFiles = new Map([...archiveBlobs(records)].map(([path, text]) => [path, Buffer.from(text)]));
        const baseline = await planOffline(inventory, intact, unusablePercent);
        const mutated: LogFiles = new Map(intact);
        const random = prng(seed ^ 0x5bd1e995);
        for (let t = 0; t < times; t++) mutation.apply(mutated, random, inventory);
        const report = await planOffline(inventory, mutated, unusablePercent);

        expect(report.error).toBeNull();
        if (report.aborted !== null) return;
        const before = deletedBy(baseline);
        const extra = [...deletedBy(report)].filter((digest) => !before.has(digest));
        if (extra.length === 0) return;
        // Extra deletions only on evidence the threshold tolerates, and then the report says so and names the lines.
        expect(report.logs.unusableRecords, `extra deletions ${extra.join(', ')} without any unusable record`).toBeGreaterThan(0);
        expect(unusableShare(report.logs)).toBeLessThanOrEqual(unusablePercent);
        expect(report.logs.badLines.length).toBeGreaterThan(0);
      }),
      { numRuns: 15 },
    );
  });

  it('the harness can fail: dropping a pull line (undetectable loss) plans more deletions', async () => {
    const { inventory, records } = scenario(4244);
    const intact: LogFiles = new Map([...archiveBlobs(records)].map(([path, text]) => [path, Buffer.from(text)]));
    const baseline = await planOffline(inventory, intact, 0.1);
    const withoutPulls: LogFiles = new Map([...intact].map(([path, bytes]) => [path, Buffer.from(bytes.toString().split('\n').filter((line) => !isPull(line) || line.includes('heartbeat')).join('\n'))]));
    const report = await planOffline(inventory, withoutPulls, 0.1);
    expect(baseline.aborted ?? report.aborted).toBeNull();
    expect([...deletedBy(report)].filter((digest) => !deletedBy(baseline).has(digest)).length).toBeGreaterThan(0);
  });
});
