/** Shared by the crash tests: a CI cache, the kill-and-rerun plumbing, and what "named as deleted" means. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { JournalRecord } from '../../src/deletion/journal.js';
import type { Inventory, ManifestInfo } from '../../src/inventory.js';
import { runPass } from '../../src/pass.js';
import { createPassDependencies } from '../../src/wiring.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { DAY, digestOf, manifest } from './builders.js';
import { startEmulator } from './emulator.js';
import type { LogRecordInput } from './syntheticCache.js';

export const KILLS = 12;
const root = join(import.meta.dirname, '..', '..');
const INDEX = 'application/vnd.oci.image.index.v1+json';

/** 8 repositories of 15 manifests: every fifth an index with two children, one locked, every fourth pulled yesterday. */
export function cache(now: number): { inventory: Inventory; records: LogRecordInput[] } {
  const old = new Date(now - 30 * DAY);
  const records: LogRecordInput[] = [{ time: new Date(now - 3_600_000), operationName: 'Pull', repository: 'heartbeat', digest: digestOf('heartbeat'), registry: 'cicache' }];
  const repositories = Array.from({ length: 8 }, (_, r) => {
    const name = `ci/repo-${r}`;
    const manifests: ManifestInfo[] = [];
    for (let m = 0; m < 15; m++) {
      const label = `r${r}-m${m}`;
      const children = m % 5 === 0 ? [`${label}-amd64`, `${label}-arm64`] : [];
      manifests.push(manifest(label, { createdOn: old, lastUpdatedOn: old, canDelete: m !== 7, tags: m % 3 === 0 ? [`pr-${m}`] : [], ...(children.length > 0 ? { mediaType: INDEX, relatedArtifacts: children.map((child) => ({ digest: digestOf(child) })) } : {}) }));
      for (const child of children) manifests.push(manifest(child, { createdOn: old, lastUpdatedOn: old }));
      if (m % 4 === 1) records.push({ time: new Date(now - DAY), operationName: 'Pull', repository: name, digest: digestOf(label), registry: 'cicache' });
    }
    return { name, manifests };
  });
  return { inventory: { registry: 'cicache.azurecr.io', repositories }, records };
}

export const contents = (emulator: AcrEmulator) => [...emulator.state.repositories.values()].flatMap((repository) => [...repository.manifests.keys()].map((digest) => `${repository.name}@${digest}`)).sort();
export const keyOf = (entry: { repository: string; digest: string }) => `${entry.repository}@${entry.digest}`;

/** Manifests some journal record says are deleted (by the run, or found so on reconciliation). */
export function deletedPerJournal(records: JournalRecord[]): string[] {
  return records.flatMap((record) => (record.type === 'outcome' && (record.outcome === 'deleted' || record.outcome === 'reconciled-deleted') ? [keyOf(record)] : []));
}

/**
 * Runs `args` with tsx and kills it with `signal`: `afterMs` after it starts, or — with `once` — `afterMs` after
 * `once()` first holds (e.g. its first DELETE reached the registry). Resolves with its output when it has exited.
 */
export function spawnAndKill(args: string[], env: NodeJS.ProcessEnv, kill: { afterMs: number; signal: NodeJS.Signals; once?: () => boolean }): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    let timer: NodeJS.Timeout | undefined;
    const arm = () => (timer = setTimeout(() => child.kill(kill.signal), kill.afterMs));
    const poll = kill.once === undefined ? undefined : setInterval(() => {
      if (kill.once!()) {
        clearInterval(poll);
        arm();
      }
    }, 5);
    if (poll === undefined) arm();
    child.once('exit', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve({ stdout, code });
    });
  });
}


/** The registry after one uninterrupted run on a twin emulator. */
export async function expectedAfterOneRun(inventory: Inventory, logDir: string): Promise<string[]> {
  const twin = await startEmulator({ state: RegistryState.fromInventory(inventory) });
  try {
    const config = loadConfig({ CONTAINER_REGISTRY: twin.endpoint, CREDENTIAL: 'emulator', LOG_DIR: logDir, MAX_DELETE_PERCENT: '100', DELETES_PER_MINUTE: '60000' });
    const report = await runPass(config, createPassDependencies(config));
    expect(report.execution!.leftForNextRun).toBe(0);
    return contents(twin);
  } finally {
    await twin.stop();
  }
}
