import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditReport } from '../src/audit.js';

const root = join(import.meta.dirname, '..');

/** `npm run demo`, the README's first command, as a user runs it: a whole process, to its end. */
function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'scripts', 'demo.ts')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run demo', () => {
  it('runs the nightly job against Azurite and the emulator, prints its summary and where its reports are, and exits 0', async () => {
    const demo = await runDemo();
    expect(demo.stderr).not.toMatch(/Error|at .*\.ts:\d+/);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/deleted [1-9]\d* \(/);
    expect(demo.stdout).toMatch(/audit report: cleanup-reports\/\d{4}\/\d{2}\/\d{2}\/\S+\.json in the host storage/);
    expect(demo.stdout).toMatch(/HTML report: cleanup-reports\/\d{4}\/\d{2}\/\d{2}\/\S+\.html in the host storage/);
    const report = JSON.parse(await readFile(join(root, '.demo', 'latest-report.json'), 'utf8')) as AuditReport;
    expect(report.outcome).toBe('completed');
    expect(report.execution!.deleted.length).toBeGreaterThan(0);
  }, 240_000);
});
