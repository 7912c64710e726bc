import fc from 'fast-check';
import { logRecord, type LogRecordInput } from './syntheticCache.js';

/**
 * JSON as producers may write it, beyond what `JSON.stringify` can: members in any order, a key twice, decoy keys
 * nested before the real ones, strings with `\u` escapes and non-ASCII, any spacing. For the tests that hold the
 * reader's byte-level fast path to `JSON.parse`.
 */
export type Json = { object: [string, Json][] } | { array: Json[] } | { string: string } | { number: string } | { literal: 'true' | 'false' | 'null' };

export interface JsonStyle {
  /** Written around `:` and `,` and inside brackets: '', ' ', '\t', '  ' … */
  space: string;
  /** How strings are escaped: as JSON.stringify does, every character as `\uXXXX`, or non-ASCII as `\uXXXX`. */
  escapes: 'minimal' | 'all' | 'non-ascii';
}

export function writeJson(value: Json, style: JsonStyle): string {
  const { space } = style;
  if ('object' in value) return `{${space}${value.object.map(([key, member]) => `${writeString(key, style)}${space}:${space}${writeJson(member, style)}`).join(`${space},${space}`)}${space}}`;
  if ('array' in value) return `[${space}${value.array.map((element) => writeJson(element, style)).join(`${space},${space}`)}${space}]`;
  if ('string' in value) return writeString(value.string, style);
  if ('number' in value) return value.number;
  return value.literal;
}

function writeString(text: string, style: JsonStyle): string {
  if (style.escapes === 'minimal') return JSON.stringify(text);
  if (style.escapes === 'non-ascii') return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `"${[...text].map((c) => [...c].map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')).join('')}"`;
}

/** A plain value as Json (objects keep their key order). */
export function toJson(value: unknown): Json {
  if (Array.isArray(value)) return { array: value.map(toJson) };
  if (value !== null && typeof value === 'object') return { object: Object.entries(value).map(([key, member]) => [key, toJson(member)]) };
  if (typeof value === 'string') return { string: value };
  if (typeof value === 'number') return { number: JSON.stringify(value) };
  return { literal: value === true ? 'true' : value === false ? 'false' : 'null' };
}

const HEX = '0123456789abcdef';
const NOW = Date.parse('2026-11-27T02:00:00Z');

/** Times as the service writes them, and as other tools might. */
export const awkwardTime = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -20, max: 12_000 }).map((minutesAgo) => new Date(NOW - minutesAgo * 60_000).toISOString().replace('Z', '1234Z')) },
  { weight: 1, arbitrary: fc.integer({ min: -20, max: 12_000 }).map((minutesAgo) => new Date(NOW - minutesAgo * 60_000).toISOString()) },
  { weight: 1, arbitrary: fc.integer({ min: -20, max: 12_000 }).map((minutesAgo) => new Date(NOW - minutesAgo * 60_000).toISOString().replace(/\.\d+Z$/, 'Z')) },
  { weight: 1, arbitrary: fc.integer({ min: -20, max: 12_000 }).map((minutesAgo) => new Date(NOW - minutesAgo * 60_000 + 3_600_000).toISOString().replace('Z', '+01:00')) },
  { weight: 1, arbitrary: fc.constantFrom('2026-11-27T02:04:59.9999999Z', '2026-11-27T02:05:00.0000001Z', '2026-11-20T02:00:00.0000000Z', '2026-13-01T00:00:00.0000000Z', '2026-11-26T24:00:00.0000000Z', '<nil>', '', 'yesterday', '2026-11-26T10:00:00.123456789Z', '0099-01-01T00:00:00.0000000Z', '2026-02-31T10:00:00.0000000Z', '2100-02-29T00:00:00.0000000Z', '2024-02-29T23:59:59.9999999Z', '1969-12-31T23:59:59.9990000Z') },
);

const digestArbitrary = fc
  .tuple(fc.array(fc.constantFrom(...HEX), { minLength: 64, maxLength: 64 }), fc.constantFrom('lower', 'lower', 'upper', 'mixed'))
  .map(([hex, mode]) => {
    const digest = `sha256:${hex.join('')}`;
    if (mode === 'lower') return digest;
    if (mode === 'upper') return digest.toUpperCase();
    return `sha256:${hex.join('').replace(/[a-f]/, (c) => c.toUpperCase())}`;
  });

const oddString = fc.oneof(
  fc.constantFrom('<nil>', '', '}{"]', 'a\\b', 'größe ✓', '\u0000\u001f', '😀', '\ud800', 'acr-cache-cleaner/0.1.0'),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
);

/** A value that is rarely what the reader wants: numbers, literals, objects, odd strings. */
const oddValue: fc.Arbitrary<Json> = fc.oneof(
  oddString.map((string) => ({ string })),
  fc.constantFrom('200', '201', '2e2', '-0', '1e400', '0.5', '404').map((number) => ({ number })),
  fc.constantFrom('true', 'false', 'null' as const).map((literal) => ({ literal: literal as 'true' | 'false' | 'null' })),
  fc.constant<Json>({ object: [['x', { string: '1' }]] }),
  fc.constant<Json>({ array: [{ number: '1' }, { object: [] }] }),
);

interface Mutation {
  path: 'top' | 'properties';
  key: string;
  kind: 'drop' | 'rename' | 'odd' | 'duplicate-before' | 'duplicate-after' | 'case';
  odd: Json;
}

const TOP_KEYS = ['time', 'category', 'operationName', 'resultType', 'resultDescription', 'resourceId', 'identity', 'properties'];
const PROPERTY_KEYS = ['repository', 'digest', 'userAgent', 'loginServer', 'tag'];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ path: fc.constant('top' as const), key: fc.constantFrom(...TOP_KEYS), kind: fc.constantFrom('drop', 'rename', 'odd', 'duplicate-before', 'duplicate-after', 'case' as const), odd: oddValue }),
  fc.record({ path: fc.constant('properties' as const), key: fc.constantFrom(...PROPERTY_KEYS), kind: fc.constantFrom('drop', 'rename', 'odd', 'duplicate-before', 'duplicate-after', 'case' as const), odd: oddValue }),
);

function mutate(members: [string, Json][], change: Mutation): [string, Json][] {
  const index = members.findIndex(([key]) => key === change.key);
  if (index === -1) return members;
  const [key, value] = members[index]!;
  const result = [...members];
  switch (change.kind) {
    case 'drop':
      result.splice(index, 1);
      break;
    case 'rename':
      result[index] = [key[0]!.toUpperCase() + key.slice(1), value];
      break;
    case 'odd':
      result[index] = [key, change.odd];
      break;
    case 'duplicate-before':
      result.splice(index, 0, [key, change.odd]);
      break;
    case 'duplicate-after':
      result.splice(index + 1, 0, [key, change.odd]);
      break;
    case 'case':
      if ('string' in value) result[index] = [key, { string: value.string.toLowerCase() === value.string ? value.string.toUpperCase() : value.string.toLowerCase() }];
      break;
  }
  return result;
}

/** Decoys: the keys the reader wants, nested where they must not count. */
const decoy: fc.Arbitrary<[string, Json]> = fc.constantFrom<[string, Json]>(
  ['identity', { object: [['time', { string: '2026-11-26T00:00:00.0000000Z' }], ['properties', { object: [['digest', { string: `sha256:${'f'.repeat(64)}` }], ['repository', { string: 'decoy' }]] }]] }],
  ['context', { array: [{ object: [['category', { string: 'Other' }], ['operationName', { string: 'Delete' }]] }] }],
  ['properties2', { object: [['repository', { string: 'decoy' }]] }],
  ['extra', { object: [['properties', { object: [['userAgent', { string: 'acr-cache-cleaner/0.1.0' }]] }]] }],
);

export interface AwkwardRecordOptions {
  registry?: string;
}

/** One record as JSON text: a real record, then shuffled, spaced, escaped, mutated, with decoys. */
export function awkwardRecord(options: AwkwardRecordOptions = {}): fc.Arbitrary<string> {
  return awkwardRecordJson(options).map(({ json, style }) => writeJson(json, style));
}

/** {@link awkwardRecord} before it is written: the value and the style to write it in. */
export function awkwardRecordJson(options: AwkwardRecordOptions = {}): fc.Arbitrary<{ json: Json; style: JsonStyle }> {
  return fc
    .record({
      time: awkwardTime,
      operationName: fc.constantFrom('Pull', 'Push', 'Delete', 'pull', 'PUSH'),
      repository: fc.constantFrom('ci/app', 'ci/web', 'CI/App', '<nil>', 'größe/app'),
      digest: digestArbitrary,
      resultDescription: fc.constantFrom('200', '201', '200', '201', '404', '202', '20', '2000', '2010', '204', '301'),
      userAgent: fc.constantFrom('docker/27.3.1', 'Trivy/0.56', 'acr-cache-cleaner/0.1.0', 'buildkit acr-cache-cleaner/0.1.0', 'café "quoted" agent', 'größe/1'),
      registry: fc.constantFrom(options.registry ?? 'cicache', 'cicache', 'CICACHE', 'other', 'zurich'),
      style: fc.record({ space: fc.constantFrom('', ' ', '  ', '\t', ' \r'), escapes: fc.constantFrom('minimal', 'minimal', 'non-ascii', 'all' as const) }),
      order: fc.array(fc.nat(), { maxLength: 12 }),
      decoys: fc.array(decoy, { maxLength: 2 }),
      mutations: fc.array(mutation, { maxLength: 2 }),
      identityObject: fc.boolean(),
      numericStatus: fc.boolean(),
    })
    .map((r) => {
      const input: LogRecordInput = { time: new Date(NOW), operationName: r.operationName, repository: r.repository, digest: r.digest, resultDescription: r.resultDescription, userAgent: r.userAgent, registry: r.registry };
      const plain = logRecord(input);
      plain.time = r.time;
      if (r.identityObject) plain.identity = { claims: { oid: 'c2c7e9f4', 'x"y': '}{' } };
      let top = (toJson(plain) as { object: [string, Json][] }).object;
      if (r.numericStatus && r.resultDescription !== '404') top = top.map(([key, value]) => (key === 'resultDescription' ? [key, { number: r.resultDescription }] : [key, value]));
      top = shuffle(top, r.order);
      top = [...r.decoys, ...top];
      for (const change of r.mutations) {
        if (change.path === 'top') top = mutate(top, change);
        else top = top.map(([key, value]) => (key === 'properties' && 'object' in value ? [key, { object: mutate(value.object, change) }] : [key, value]));
      }
      return { json: { object: top } as Json, style: r.style };
    });
}

/**
 * The same structure with other tokens: every string and number replaced (strings by any text: quotes, escapes,
 * non-ASCII), or, with `nearMiss`, one structural change (a renamed key, a string become a number or an object).
 */
export function retokened(json: Json, seed: number, nearMiss: boolean): Json {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  const texts = ['', 'x', '"', '\\', 'a"b\\c', '}{][,:', 'acr-cache-cleaner/0.1.0', 'ContainerRegistryRepositoryEvents', 'Pull', '200', '2026-11-26T10:00:00.1234567Z', `sha256:${'e'.repeat(64)}`, '<nil>', '\u0001'];
  const rare = ['café ✓', '😀', 'a\tb'];
  const numbers = ['0', '-1', '200', '2e2', '1.5', '-0', '1e400', '12345678901234567890'];
  let misses = nearMiss ? 1 : 0;
  const walk = (value: Json): Json => {
    if ('object' in value) {
      return {
        object: value.object.map(([key, member]): [string, Json] => {
          if (misses > 0 && next() % 23 === 0) {
            misses--;
            return [`${key}_`, walk(member)];
          }
          return [key, walk(member)];
        }),
      };
    }
    if ('array' in value) return { array: value.array.map(walk) };
    if ('string' in value) {
      if (misses > 0 && next() % 17 === 0) {
        misses--;
        return next() % 2 === 0 ? { number: '1' } : { object: [] };
      }
      return { string: next() % 50 === 0 ? rare[next() % rare.length]! : texts[next() % texts.length]! };
    }
    if ('number' in value) return { number: numbers[next() % numbers.length]! };
    return value;
  };
  return walk(json);
}

function shuffle<T>(items: T[], order: number[]): T[] {
  const result = [...items];
  for (let i = 0; i < order.length && result.length > 1; i++) {
    const a = i % result.length;
    const b = order[i]! % result.length;
    [result[a], result[b]] = [result[b]!, result[a]!];
  }
  return result;
}
