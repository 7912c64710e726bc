import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordSplitter } from '../../src/accessLog/lines.js';

type Emitted = { text: string; line: number; unterminated: boolean };

function split(chunks: (string | Buffer)[]): Emitted[] {
  const out: Emitted[] = [];
  const splitter = new RecordSplitter({
    record: (bytes, start, end, line, unterminated) => out.push({ text: bytes.toString('utf8', start, end), line, unterminated }),
    oversized: (line) => out.push({ text: '<oversized>', line, unterminated: false }),
  });
  for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  splitter.end();
  return out;
}

function chunked(text: string, cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text);
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let previous = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(previous, point));
    previous = point;
  }
  return chunks;
}

describe('RecordSplitter, JSON Lines', () => {
  it('splits lines and numbers them, skipping blank lines and CR', () => {
    const out = split(['{"a":1}\r\n\r\n  \n{"b":2}\n']);
    expect(out).toEqual([
      { text: '{"a":1}', line: 1, unterminated: false },
      { text: '{"b":2}', line: 4, unterminated: false },
    ]);
  });

  it('drops a UTF-8 BOM and keeps multi-byte characters split across chunks', () => {
    const text = '\uFEFF{"ua":"größe ✓"}\n{"x":1}\n';
    const bytes = Buffer.from(text);
    const out = split([bytes.subarray(0, 14), bytes.subarray(14, 15), bytes.subarray(15)]);
    expect(out.map((record) => record.text)).toEqual(['{"ua":"größe ✓"}', '{"x":1}']);
  });

  it('hands out a final line without newline as unterminated', () => {
    const out = split(['{"a":1}\n{"b":']);
    expect(out.at(-1)).toEqual({ text: '{"b":', line: 2, unterminated: true });
  });

  it('gives the same records whatever the chunking', () => {
    const lines = fc.array(fc.json({ maxDepth: 2 }).map((json) => json.replace(/\n/g, ' ')), { maxLength: 8 });
    fc.assert(
      fc.property(lines, fc.array(fc.nat(), { maxLength: 6 }), fc.constantFrom('\n', '\r\n'), (records, cuts, eol) => {
        const text = records.map((record) => record + eol).join('');
        const whole = split([text]);
        expect(split(chunked(text, cuts))).toEqual(whole);
        expect(whole.map((record) => record.text)).toEqual(records.map((record) => record.trim()).filter((record) => record.length > 0));
      }),
    );
  });
});

describe('RecordSplitter, {"records":[…]} documents', () => {
  const document = '{"records":[\n  {"time":"t1","properties":{"a":"}{\\"]"}},\n  {"time":"t2","list":[1,{"x":2}]}\n]}\n';

  it('hands out every element of the records array, with the line it starts on', () => {
    const out = split([document]);
    expect(out.map((record) => JSON.parse(record.text))).toEqual([
      { time: 't1', properties: { a: '}{"]' } },
      { time: 't2', list: [1, { x: 2 }] },
    ]);
    expect(out.map((record) => record.line)).toEqual([2, 3]);
  });

  it('gives the same records whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        expect(split(chunked(document, cuts))).toEqual(split([document]));
      }),
    );
  });

  it('reports a record cut off at the end as unterminated', () => {
    const out = split(['{"records":[{"time":"t1"},{"time":"t']);
    expect(out).toEqual([
      { text: '{"time":"t1"}', line: 1, unterminated: false },
      { text: '{"time":"t', line: 1, unterminated: true },
    ]);
  });
});

describe('RecordSplitter, documents anywhere among JSON lines', () => {
  const record = fc.json({ maxDepth: 2 }).map((json) => `{"v":${json.replace(/\n/g, ' ')}}`);
  const piece = fc.oneof(
    { weight: 4, arbitrary: record },
    { weight: 1, arbitrary: fc.array(record, { maxLength: 3 }).map((records) => `{"records":[${records.join(',')}]}`) },
    { weight: 1, arbitrary: fc.array(record, { maxLength: 3 }).map((records) => `{\n  "records" : [\n    ${records.join(',\n    ')}\n  ]\n}`) },
    { weight: 1, arbitrary: fc.constantFrom('', '   ', '{', '{ "rec', '{"records"', '{"records":', '{"records":[', '{"records":[{"v":1}', '{\n', '{"recorder":1}') },
  );

  it('gives the same records whatever the chunking, a document opener cut anywhere included', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom('\n', '\r\n'), (pieces, cuts, eol) => {
        const text = pieces.join(eol) + eol;
        expect(split(chunked(text, cuts))).toEqual(split([text]));
        expect(split(chunked(text, [...Array(text.length).keys()]))).toEqual(split([text]));
      }),
      { numRuns: 300 },
    );
  });

  it('reads every element of a document wherever it starts, and the lines after it', () => {
    const text = '{"a":1}\n{"records":[{"b":2},{"c":3}]}\n{"d":4}\n{\n  "records": [\n    {"e":5}\n  ]\n}\n{"f":6}\n';
    expect(split([text]).map((record) => `${record.line}:${record.text}`)).toEqual(['1:{"a":1}', '2:{"b":2}', '2:{"c":3}', '3:{"d":4}', '6:{"e":5}', '9:{"f":6}']);
  });

  it('reads on as lines after a document that never closes its array, and takes a line that only looks like one as a record', () => {
    expect(split(['{"records":[{"a":1}}\n{"b":2}\n{"recorder":3}\n']).map((record) => record.text)).toEqual(['{"a":1}', '{"b":2}', '{"recorder":3}']);
  });
});

describe('RecordSplitter, cost of blank space', () => {
  function splitCounting(chunks: Buffer[]): { records: string[]; lookaheadBytes: number } {
    const records: string[] = [];
    const splitter = new RecordSplitter({
      record: (bytes, start, end, line) => records.push(`${line}:${bytes.toString('utf8', start, end)}`),
      oversized: (line) => records.push(`${line}:<oversized>`),
    });
    for (const chunk of chunks) splitter.push(chunk);
    splitter.end();
    return { records, lookaheadBytes: splitter.lookaheadBytes };
  }

  it('looks ahead for a document opener at most twice over each byte, however many blank lines there are', () => {
    for (const blank of [' \n', '\r\n', '\t \r\n', '  \n\n']) {
      const lines = 100_000 / blank.length;
      const text = `{"a":1}\n${blank.repeat(lines)}{"b":2}\n${blank.repeat(lines)}{\n${blank.repeat(lines)}"records":[{"c":3}]}\n  {"d":4}\n`;
      const blankLines = lines * (blank.split('\n').length - 1);
      for (const chunkBytes of [text.length, 65_536, 4_000]) {
        const bytes = Buffer.from(text);
        const chunks: Buffer[] = [];
        for (let at = 0; at < bytes.length; at += chunkBytes) chunks.push(bytes.subarray(at, at + chunkBytes));
        const { records, lookaheadBytes } = splitCounting(chunks);
        // The `{` is too far from its `"records"` to open a document: two lines that are not records.
        expect(records, JSON.stringify(blank)).toEqual([
          '1:{"a":1}',
          `${2 + blankLines}:{"b":2}`,
          `${3 + 2 * blankLines}:{`,
          `${4 + 3 * blankLines}:"records":[{"c":3}]}`,
          `${5 + 3 * blankLines}:  {"d":4}`,
        ]);
        expect(lookaheadBytes, JSON.stringify(blank)).toBeLessThanOrEqual(2 * bytes.length);
      }
    }
  });
});
