/**
 * Kill it at any moment and run it again: the CLI and the Functions job are killed at seeded random points (startup,
 * reading logs, listing, deleting, journaling), then rerun until a run completes. The registry must end exactly as
 * after one uninterrupted run, and every manifest that is gone must be named as deleted by a journal or a report.
 */

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJournalFile } from '../../src/deletion/journal.js';
import type { PassReport } from '../../src/report.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import { cache, contents, deletedPerJournal, expectedAfterOneRun, keyOf, KILLS, spawnAndKill } from '../support/crashScenario.js';
import { startEmulator } from '../support/emulator.js';
import { writeScenario } from '../support/scenario.js';
import { prng } from '../support/syntheticCache.js';

describe('the CLI killed at random points, then run again', () => {
  it(`the CLI with --journal (${KILLS} kills): the registry ends as after one run, and the journal names every deletion`, async () => {
    const random = prng(20261127);
    const { inventory, records } = cache(Date.now());
    const { directory, logDir } = await writeScenario(inventory, records);
    const expected = await expectedAfterOneRun(inventory, logDir);
    const emulator = await startEmulator({ state: RegistryState.fromInventory(inventory), latencyMs: 5 });
    try {
      const before = contents(emulator);
      const journal = join(directory, 'journal.jsonl');
      const args = ['src/bin.ts', '--container-registry', emulator.endpoint, '--credential', 'emulator', '--log-dir', logDir, '--max-delete-percent', '100'];
      const run = [...args, '--deletes-per-minute', '600', '--concurrency', '4', '--request-timeout-seconds', '2', '--journal', journal, '--output', 'json'];
      const reports: PassReport[] = [];
      let killedWhileDeleting = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const signal = random() < 0.7 ? 'SIGKILL' : random() < 0.5 ? 'SIGTERM' : 'SIGINT';
        const deletesBefore = emulator.requestsMatching('DELETE', /manifests/).length;
        // A quarter of the kills land anywhere from start-up to listing, the rest while deleting.
        const whileDeleting = random() < 0.75;
        const started = () => emulator.requestsMatching('DELETE', /manifests/).length > deletesBefore;
        const { stdout } = await spawnAndKill(run, process.env, whileDeleting ? { afterMs: Math.floor(random() * 800), signal, once: started } : { afterMs: Math.floor(random() * 3000), signal });
        if (stdout.trim().startsWith('{')) reports.push(JSON.parse(stdout) as PassReport);
        if (emulator.requestsMatching('DELETE', /manifests/).length > deletesBefore && contents(emulator).length > expected.length) killedWhileDeleting++;
      }
      expect(killedWhileDeleting).toBeGreaterThanOrEqual(KILLS / 3);
      for (let rerun = 0; ; rerun++) {
        const { stdout, code } = await spawnAndKill(run, process.env, { afterMs: 120_000, signal: 'SIGKILL' });
        const report = JSON.parse(stdout) as PassReport;
        reports.push(report);
        expect(code).toBe(0);
        if (report.execution === null || report.execution.leftForNextRun === 0) break;
        expect(rerun).toBeLessThan(3);
      }
      expect(contents(emulator)).toEqual(expected);
      const gone = before.filter((key) => !contents(emulator).includes(key));
      const named = new Set([...deletedPerJournal((await readJournalFile(journal)).records), ...reports.flatMap((report) => [...(report.execution?.deleted ?? []), ...(report.reconciliation?.deleted ?? [])].map(keyOf))]);
      expect(gone.filter((key) => !named.has(key))).toEqual([]);
    } finally {
      await emulator.stop();
    }
  }, 300_000);
});
