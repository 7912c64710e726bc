// Differential tests of the WebAssembly record scanner, from an attack on it: they hold RecordScanner
// to JSON.parse (extractFields) and classifyFields on inputs the existing property tests draw rarely.
import { describe, expect, it } from 'vitest';
import { extractFields, type RecordFields } from '../../src/accessLog/fields.js';
import { classifyFields, type RecordFilter } from '../../src/accessLog/record.js';
import { RecordScanner } from '../../src/accessLog/recordScanner.js';
import { presentFields, referenceFields } from '../support/scannerReference.js';

const NOW = Date.parse('2026-11-27T02:00:00Z');

function normalized(fields: RecordFields): string {
  return JSON.stringify(Object.entries(presentFields(fields)).sort());
}

/** A deterministic generator (LCG), so that a failure names its seed. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  return { next, pick };
}

/** The scanner's fields equal JSON.parse's whenever it takes the record; returns whether it took it. */
function agrees(scanner: RecordScanner, record: Buffer, shift: number): boolean {
  const bytes = Buffer.concat([Buffer.alloc(shift, 0x22), record, Buffer.from('"}')]);
  if (!scanner.read(bytes, shift, shift + record.length)) return false;
  const expected = referenceFields(record);
  expect(expected, record.toString('latin1')).not.toBe('malformed');
  expect(normalized(scanner.fields(bytes)), record.toString('latin1')).toBe(normalized(expected as RecordFields));
  return true;
}

describe('the wasm scanner against JSON.parse, attacked', () => {
  it('on random structures: near-miss keys, bad numbers and literals, raw bytes, odd blanks, unbalanced closers', () => {
    const { next, pick } = random(1);
    const keys = ['time', 'category', 'resultType', 'resourceId', 'properties', 'repository', 'digest', 'userAgent', 'tim', 'timf', 'xime', 'propertieS', 'resultTypf', '', 'a'.repeat(31), 'a'.repeat(32)];
    const strings = ['', 'x', 'ContainerRegistryRepositoryEvents', '2026-11-26T10:00:00.1234567Z', `sha256:${'e'.repeat(64)}`, 'a'.repeat(15), 'b'.repeat(16), 'c'.repeat(17)];
    const raw = ['\\"', '\\\\', '\\/', '\\b', '\\u0041', '\\u00e9', '\\ud800', '\\uDC00', '\\u007f', '\\u0080', '\\u', '\\u12', '\\x', '\\', '"', '\x01', '\x7f', '\xff', '\xc3', 'é', '😀', '\t'];
    const numbers = ['0', '-0', '1e5', '01', '1.', '.5', '-', '1e', '1e+', '1E-2', '2e2', '1e400', '12345678901234567890123', '00', '-01', '+1', 'NaN'];
    const literals = ['true', 'false', 'null', 'tru', 'nul', 'fals', 'truex', 'nullx', 'True', 't'];
    const blank = () => pick(['', '', '', ' ', '\t', '\r\n', '\x0b', '\xa0']);
    const text = (): string => {
      if (next() < 0.5) return JSON.stringify(pick(strings));
      let s = '"';
      for (let i = Math.floor(next() * 40); i > 0; i--) s += next() < 0.15 ? pick(raw) : String.fromCharCode(97 + Math.floor(next() * 26));
      return s + (next() < 0.95 ? '"' : '');
    };
    const value = (depth: number): string => {
      const r = next();
      if (r < 0.4) return text();
      if (r < 0.55) return pick(numbers);
      if (r < 0.65) return pick(literals);
      if (depth > 34) return '1';
      if (r < 0.82) return object(depth + 1);
      const items = Array.from({ length: Math.floor(next() * 4) }, () => blank() + value(depth + 1) + blank());
      return `[${items.join(pick([',', ',', ', ', ',,']))}${next() < 0.03 ? ',' : ''}${next() < 0.97 ? ']' : '}'}`;
    };
    const object = (depth: number): string => {
      const members = Array.from({ length: Math.floor(next() * 6) }, () => blank() + (next() < 0.97 ? JSON.stringify(pick(keys)) : text()) + blank() + pick([':', ':', ': ', '', '::']) + blank() + value(depth) + blank());
      return `{${members.join(pick([',', ',', ', ']))}${next() < 0.97 ? '}' : ']'}`;
    };
    const scanner = new RecordScanner();
    let taken = 0;
    for (let i = 0; i < 40_000; i++) {
      const record = Buffer.from(blank() + object(1) + blank(), next() < 0.2 ? 'latin1' : 'utf8');
      if (agrees(scanner, record, Math.floor(next() * 20))) taken++;
    }
    expect(taken).toBeGreaterThan(3000);
  });

  it('on every escape, control byte and invalid UTF-8 at every offset of strings up to 33 bytes, at every alignment', () => {
    const pieces = ['"', '\\"', '\\\\', '\\/', '\x00', '\x1f', '\x20', '\x7f', '\\u0041', '\\u004', '\\u', '\\', '\\x', '\\U0041', '\\u00g1'].map((p) => Buffer.from(p, 'latin1'));
    pieces.push(Buffer.from([0xff]), Buffer.from([0xe2, 0x82]), Buffer.from('😀'));
    const scanner = new RecordScanner();
    for (const prefix of ['{"time":"', '{"properties":{"userAgent":"']) {
      for (let lead = 0; lead < 16; lead += 3) {
        for (let length = 0; length <= 33; length++) {
          for (let at = 0; at <= length; at++) {
            for (const piece of pieces) {
              for (const close of ['"}', '"}}', '']) {
                agrees(scanner, Buffer.concat([Buffer.from(' '.repeat(lead) + prefix), Buffer.alloc(at, 0x61), piece, Buffer.alloc(length - at, 0x62), Buffer.from(close)]), 0);
              }
            }
          }
        }
      }
    }
  }, 120_000);

  it('on nesting 24 to 37 deep, arrays and objects mixed, one closer swapped', () => {
    const { next } = random(5);
    const scanner = new RecordScanner();
    for (let i = 0; i < 30_000; i++) {
      const depth = 24 + Math.floor(next() * 14);
      const opened: string[] = [];
      let text = `{"time":"a",${next() < 0.5 ? '"properties":' : '"x":'}`;
      for (let d = 0; d < depth; d++) {
        const array = next() < 0.5;
        opened.push(array ? ']' : '}');
        text += array ? '[' : '{"repository":';
      }
      text += '"v"';
      const swapped = next() < 0.3 ? Math.floor(next() * depth) : -1;
      for (let d = depth - 1; d >= 0; d--) text += d === swapped ? (opened[d] === ']' ? '}' : ']') : opened[d];
      text += next() < 0.5 ? ',"repository":"r"}' : '}';
      agrees(scanner, Buffer.from(text), 0);
    }
  });

  it('on service times of every year 98-10000, months 0-13, days 0-32, hours to 24, minutes and seconds to 60', () => {
    const filter: RecordFilter = { window: { startMs: -8.64e15, endMs: 8.64e15 } };
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    const head = `{"category":"ContainerRegistryRepositoryEvents","operationName":"Pull","resultType":"HttpStatusCode","resultDescription":"200","properties":{"repository":"a","digest":"sha256:${'ab'.repeat(32)}"},"time":"`;
    const scanner = new RecordScanner();
    let decided = 0;
    for (let year = 98; year <= 10_000; year++) {
      for (const month of [0, 1, 2, 3, 12, 13]) {
        for (const day of [0, 1, 28, 29, 30, 31, 32]) {
          const time = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad((year * 7 + month) % 25, 2)}:${pad((year + day) % 61, 2)}:${pad((year * 3 + month * day) % 61, 2)}.${pad((year * 7919 + day * 104_729 + month) % 10_000_000, 7)}Z`;
          const text = `${head}${time}"}`;
          const bytes = Buffer.from(text);
          expect(scanner.read(bytes, 0, bytes.length)).toBe(true);
          const outcome = scanner.classify(bytes, filter);
          if (outcome === undefined) continue;
          decided++;
          const generic = classifyFields(extractFields(text), filter);
          expect(generic.kind, time).toBe('access');
          expect(scanner.timeMs, time).toBe(generic.timeMs);
        }
      }
    }
    expect(decided).toBeGreaterThan(100_000);
  });

  it('on real records written with random \\u escapes (any case), \\/, blanks, duplicated keys and decoys, under three filters', () => {
    const { next, pick } = random(3);
    const blank = () => (next() < 0.8 ? '' : pick([' ', '\t', '\r', '\n']));
    const string = (text: string, rate: number) => {
      let out = '"';
      for (const c of text) {
        const code = c.codePointAt(0)!;
        if (c === '"' || c === '\\') out += `\\${c}`;
        else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, '0')}`;
        else if (next() < rate) {
          out += c === '/' && next() < 0.5 ? '\\/' : [...c].map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`).map((e) => (next() < 0.5 ? e : e.toUpperCase().replace('\\U', '\\u'))).join('');
        } else out += c;
      }
      return `${out}"`;
    };
    const write = (value: unknown, rate: number, depth = 0): string => {
      if (typeof value === 'string') return string(value, rate);
      if (typeof value !== 'object' || value === null) return String(value);
      const members: string[] = [];
      for (const [key, member] of Object.entries(value)) {
        if (next() < 0.05) members.push(`${string(key, 0)}:${write(pick(['x', 1, null, { a: 1 }, 'ContainerRegistryRepositoryEvents', '200']), rate)}`);
        members.push(`${blank()}${string(key, 0)}${blank()}:${blank()}${write(member, rate, depth + 1)}${blank()}`);
      }
      if (next() < 0.1) members.unshift(`"decoy":${write({ time: 'x', properties: { repository: 'decoy', digest: `sha256:${'f'.repeat(64)}` } }, rate, 5)}`);
      return `{${members.join(',')}}`;
    };
    const filters: RecordFilter[] = [
      { window: { startMs: NOW - 7 * 86_400_000, endMs: NOW } },
      { window: { startMs: NOW - 7 * 86_400_000, endMs: NOW }, registryName: 'cicache' },
      { window: { startMs: NOW - 86_400_000, endMs: NOW }, registryName: 'zurich', ignoreUserAgents: /^Trivy|café|😀/ },
    ];
    const scanner = new RecordScanner();
    let decided = 0;
    for (let i = 0; i < 20_000; i++) {
      const registry = pick(['cicache', 'CICache', 'zurich']);
      const record = {
        time: new Date(NOW - Math.floor(next() * 8 * 86_400_000) + 400_000 * next()).toISOString().replace('Z', pick(['0000Z', '1234Z', '0001Z'])),
        resourceId: `/SUBSCRIPTIONS/X/REGISTRIES/${registry.toUpperCase()}`,
        operationName: pick(['Pull', 'Push', 'Pull', 'Delete']),
        category: 'ContainerRegistryRepositoryEvents',
        resultType: 'HttpStatusCode',
        resultDescription: pick(['200', '201', '404']),
        properties: {
          repository: pick(['ci/app', 'ci/app', 'CI/app', 'größe/x', '<nil>']),
          digest: `sha256:${Array.from({ length: 64 }, () => pick([...'0123456789abcdef'])).join('')}`,
          userAgent: pick(['docker/27', 'acr-cache-cleaner/0.1', 'x acr-cache-cleaner/1', 'Trivy/1', 'café', '😀 acr-cache-cleaner/']),
          loginServer: `${registry}.azurecr.io`,
        },
      };
      const text = blank() + write(record, pick([0, 0, 0.02, 0.2, 1])) + blank();
      const bytes = Buffer.from(text);
      expect(agrees(scanner, bytes, 0), text).toBe(true);
      expect(scanner.read(bytes, 0, bytes.length)).toBe(true);
      const fields = extractFields(text);
      for (const filter of filters) {
        const outcome = scanner.classify(bytes, filter);
        if (outcome === undefined) continue;
        decided++;
        const generic = classifyFields(fields, filter);
        if (outcome === 'access') {
          expect(generic.kind, text).toBe('access');
          if (generic.kind !== 'access') continue;
          expect(bytes.toString('latin1', scanner.repositoryStart, scanner.repositoryEnd)).toBe(generic.access.repository);
          expect(scanner.timeMs).toBe(generic.timeMs);
        } else {
          expect(generic, text).toEqual(Number.isNaN(scanner.timeMs) ? { kind: 'skipped', reason: outcome } : { kind: 'skipped', reason: outcome, timeMs: scanner.timeMs });
        }
      }
    }
    expect(decided).toBeGreaterThan(10_000);
  });
});
