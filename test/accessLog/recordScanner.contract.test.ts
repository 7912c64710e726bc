// Found by attacking the WebAssembly record scanner: each of these failed before its fix.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { extractFields } from '../../src/accessLog/fields.js';
import { classifyFields, type RecordFilter } from '../../src/accessLog/record.js';
import { RecordScanner } from '../../src/accessLog/recordScanner.js';

const NOW = Date.parse('2026-11-27T02:00:00Z');
const RECORD = JSON.stringify({
  time: '2026-11-26T10:00:00.0000000Z',
  resourceId: '/SUBSCRIPTIONS/X/REGISTRIES/CICACHE',
  category: 'ContainerRegistryRepositoryEvents',
  operationName: 'Pull',
  resultType: 'HttpStatusCode',
  resultDescription: '200',
  properties: { repository: 'ci/app', digest: `sha256:${'ab'.repeat(32)}`, userAgent: 'Trivy/0.56' },
});

describe('the record scanner keeps its contract', () => {
  it('obeys a filter object changed between two records', () => {
    const bytes = Buffer.from(RECORD);
    const scanner = new RecordScanner();
    const filter: RecordFilter = { window: { startMs: NOW - 7 * 86_400_000, endMs: NOW } };
    expect(scanner.read(bytes, 0, bytes.length)).toBe(true);
    expect(scanner.classify(bytes, filter)).toBe('access');
    filter.registryName = 'zurich';
    expect(classifyFields(extractFields(RECORD), filter)).toEqual({ kind: 'skipped', reason: 'other-registry' });
    expect(scanner.read(bytes, 0, bytes.length)).toBe(true);
    expect(scanner.classify(bytes, filter)).toBe('other-registry');
    filter.registryName = undefined;
    filter.window.startMs = NOW - 3_600_000;
    expect(scanner.read(bytes, 0, bytes.length)).toBe(true);
    expect(scanner.classify(bytes, filter)).toBe('outside-window');
  });

  it('leaves a record past 2^31 bytes into its buffer to the generic path rather than wrap its offsets', () => {
    const record = Buffer.from(RECORD);
    const at = 2 ** 31 + 10;
    let big: Buffer;
    try {
      big = Buffer.allocUnsafeSlow(at + record.length); // pages never written are not committed
    } catch {
      return; // no address space for it here
    }
    record.copy(big, at);
    expect(new RecordScanner().read(big, at, at + record.length)).toBe(false);
  });

  it('without WebAssembly SIMD, the CLI reads every record by the generic path, plans the same and says so', () => {
    const run = (nodeFlags: string[]) =>
      JSON.parse(
        execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', 'src/bin.ts', '--log-dir', 'examples/logs', '--inventory', 'examples/inventory.json', '--now', '2026-11-27T02:30:00Z', '--output', 'json'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }),
      ) as { delete: unknown; keep: unknown; summary: unknown; logs: { notes: string[] } };
    // V8 without SSE4.1 offers no WebAssembly SIMD: the module does not compile.
    const withoutSimd = run(['--no-enable-sse4-1']);
    const normal = run([]);
    expect(withoutSimd.logs.notes.join('\n')).toMatch(/fast log reader needs WebAssembly with SIMD.*generic path/);
    expect(normal.logs.notes.join('\n')).not.toMatch(/fast log reader/);
    expect({ delete: withoutSimd.delete, keep: withoutSimd.keep, summary: withoutSimd.summary }).toEqual({ delete: normal.delete, keep: normal.keep, summary: normal.summary });
  }, 60_000);
});
