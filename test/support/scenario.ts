import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import { inventoryToSnapshot, type Inventory } from '../../src/inventory.js';
import type { PassReport } from '../../src/report.js';
import { archiveBlobs, writeArchiveTree, type LogRecordInput } from './syntheticCache.js';

/** Writes a log folder in the archive layout and an inventory file, as a user would have them. */
export async function writeScenario(inventory: Inventory, records: LogRecordInput[], extraFiles: Record<string, string> = {}) {
  const directory = await mkdtemp(join(tmpdir(), 'acr-cache-cleaner-'));
  const logDir = join(directory, 'logs');
  await writeArchiveTree(logDir, archiveBlobs(records));
  for (const [path, text] of Object.entries(extraFiles)) await writeArchiveTree(logDir, new Map([[path, text]]));
  const inventoryFile = join(directory, 'inventory.json');
  await writeFile(inventoryFile, JSON.stringify(inventoryToSnapshot(inventory)));
  return { directory, logDir, inventoryFile };
}

export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; report?: PassReport }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  let report: PassReport | undefined;
  if (args.includes('json') && stdout.trim().startsWith('{')) report = JSON.parse(stdout) as PassReport;
  return { code, stdout, stderr, report };
}
