import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { extractFields, MalformedRecordError, type RecordFields } from '../../src/accessLog/fields.js';

/** The reference: JSON.parse and pick the fields, as the slow path does. */
function reference(text: string): RecordFields | 'malformed' {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'malformed';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'malformed';
  const record = value as Record<string, unknown>;
  const pick = (source: Record<string, unknown>, keys: string[], into: Record<string, string>) => {
    for (const key of keys) {
      const field = source[key];
      if (typeof field === 'string') into[key] = field;
      else if (typeof field === 'number' && Number.isFinite(field)) into[key] = String(field);
    }
  };
  const fields: Record<string, string> = {};
  pick(record, ['time', 'category', 'operationName', 'resultType', 'resultDescription', 'resourceId'], fields);
  const properties = record['properties'];
  if (typeof properties === 'object' && properties !== null && !Array.isArray(properties)) {
    pick(properties as Record<string, unknown>, ['repository', 'digest', 'userAgent', 'loginServer'], fields);
  }
  return fields;
}

function actual(text: string): RecordFields | 'malformed' {
  try {
    return extractFields(text);
  } catch (error) {
    if (error instanceof MalformedRecordError) return 'malformed';
    throw error;
  }
}

const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.constant('<nil>'));
const record = fc.record(
  {
    time: scalar,
    category: fc.oneof(fc.constant('ContainerRegistryRepositoryEvents'), scalar),
    operationName: fc.oneof(fc.constantFrom('Pull', 'Push', 'Delete'), scalar),
    resultType: scalar,
    resultDescription: fc.oneof(fc.constantFrom('200', '201', '404'), fc.constant(200), scalar),
    durationMs: fc.oneof(fc.constant('38.212784'), fc.double({ noNaN: true, noDefaultInfinity: true })),
    identity: fc.oneof(fc.string({ maxLength: 8 }), fc.record({ claims: fc.record({ oid: fc.string({ maxLength: 8 }) }) })),
    resourceId: scalar,
    properties: fc.oneof(
      fc.record(
        { repository: scalar, digest: scalar, userAgent: scalar, loginServer: scalar, tag: scalar, size: scalar },
        { requiredKeys: [] },
      ),
      scalar,
    ),
  },
  { requiredKeys: [] },
);

describe('extractFields', () => {
  it('agrees with JSON.parse on every record, compact or spaced', () => {
    fc.assert(
      fc.property(record, fc.constantFrom(undefined, 1), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(actual(text)).toEqual(reference(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with JSON.parse on damaged records', () => {
    fc.assert(
      fc.property(record, fc.nat(), fc.constantFrom('', '"', '{', '}', ',', ':', 'x', '[', '\\', '1', ' '), (value, position, insert) => {
        const text = JSON.stringify(value);
        const at = position % (text.length + 1);
        const damaged = Buffer.from(text.slice(0, at) + insert + text.slice(at + (insert === '' ? 1 : 0))).toString();
        expect(actual(damaged)).toEqual(reference(damaged));
      }),
      { numRuns: 3000 },
    );
  });

  it('reads the real record shape and tolerates an object identity and a numeric durationMs', () => {
    const text = '{"time":"2025-01-30T14:19:15.1931730Z","category":"ContainerRegistryRepositoryEvents","operationName":"Pull","identity":{"claims":{"oid":"x"}},"durationMs":38.2,"resultType":"HttpStatusCode","resultDescription":"200","properties":{"repository":"a/b","digest":"sha256:00","userAgent":"<nil>"}}';
    expect(actual(text)).toEqual({
      time: '2025-01-30T14:19:15.1931730Z',
      category: 'ContainerRegistryRepositoryEvents',
      operationName: 'Pull',
      resultType: 'HttpStatusCode',
      resultDescription: '200',
      repository: 'a/b',
      digest: 'sha256:00',
      userAgent: '<nil>',
    });
  });
});

describe('extractFields on text that cannot be a JSON object', () => {
  it('says so without handing it to JSON.parse (whose error costs microseconds a line: a file of short junk lines took seconds a chunk)', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      for (const text of ['x', ']}', '{', '  {  ', '"a"', '12', '[{}]', '', ' \t']) {
        expect(() => extractFields(text), text).toThrow(MalformedRecordError);
      }
      expect(parse).not.toHaveBeenCalled();
      expect(() => extractFields(' {"time":} ')).toThrow(MalformedRecordError);
      expect(parse).toHaveBeenCalledTimes(1);
      expect(extractFields('\r\n {"time":"t"}\t')).toMatchObject({ time: 't' });
    } finally {
      parse.mockRestore();
    }
  });
});
