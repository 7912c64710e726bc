import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type CliEnvironment } from '../../src/cli.js';
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

/**
 * Runs the CLI in this process. `env` is what bin.ts would pass from the environment; by default a state folder of
 * this call's own, so that a live run's default journal never meets another test's.
 */
export async function runCli(args: string[], env?: CliEnvironment): Promise<{ code: number; stdout: string; stderr: string; report?: PassReport }> {
  let stdout = '';
  let stderr = '';
  env ??= { XDG_STATE_HOME: await mkdtemp(join(tmpdir(), 'acr-cache-cleaner-state-')) };
  const code = await main(args, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env });
  let report: PassReport | undefined;
  if (args.includes('json') && stdout.trim().startsWith('{')) report = JSON.parse(stdout) as PassReport;
  return { code, stdout, stderr, report };
}

export interface ProgramRun {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * The CLI as a user runs it (src/bin.ts, under tsx) in its own process. It is killed (SIGKILL) if it has not exited
 * after `killAfterMs`. `closeStderrAfterLines` / `closeStdout`: the reader of that stream goes away (as `| head -3`
 * does), so the program's next write to it fails with EPIPE.
 */
export function runProgram(args: string[], options: { env?: NodeJS.ProcessEnv; killAfterMs?: number; closeStderrAfterLines?: number; closeStdout?: boolean } = {}): Promise<ProgramRun> {
  const root = join(import.meta.dirname, '..', '..');
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', ...args], { cwd: root, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  if (options.closeStdout) child.stdout.destroy();
  else child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (options.closeStderrAfterLines !== undefined && stderr.split('\n').length > options.closeStderrAfterLines) child.stderr.destroy();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 60_000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 });
    });
  });
}
