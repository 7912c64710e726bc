import { ABSENT, FIELD_COUNT, FIRST_PROPERTY, NONE, OTHER } from './fieldSlots.js';
import type { RecordScanner } from './recordShape.js';

/**
 * What a generic scan of a printable record saw, to learn its shape from: where its variable tokens (string
 * contents and numbers) are, and which token, if any, each field slot finally holds (a later key of the same
 * name, or a later `properties`, takes over, as in the scan).
 */
export class Trace {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly numbers: boolean[] = [];
  /** Per slot: the token it holds, OWNER_OTHER (a container or a literal), or OWNER_ABSENT. */
  readonly owners = new Int32Array(FIELD_COUNT);

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
    this.numbers.length = 0;
    this.owners.fill(OWNER_ABSENT);
  }

  token(start: number, end: number, isNumber: boolean, field: number): void {
    if (field !== NONE) this.owners[field] = this.starts.length;
    this.starts.push(start);
    this.ends.push(end);
    this.numbers.push(isNumber);
  }

  other(field: number): void {
    this.owners[field] = OWNER_OTHER;
  }

  resetProperties(): void {
    for (let f = FIRST_PROPERTY; f < FIELD_COUNT; f++) this.owners[f] = OWNER_ABSENT;
  }
}

const OWNER_ABSENT = -2;
const OWNER_OTHER = -1;

/**
 * A record's shape: its bytes with the variable tokens (string contents, numbers) taken out. A record of the same
 * shape has exactly these bytes around tokens of its own; matching them proves it is the same JSON structure —
 * the same keys at the same depths, hence the same fields — so only its tokens need reading.
 */
class Shape {
  constructor(
    /** The bytes before each token, and after the last. */
    readonly fixed: FixedBytes[],
    readonly numbers: boolean[],
    /** The slot each token fills (NONE for most). */
    readonly fields: Int32Array,
    /** Each slot before the tokens are read: ABSENT, or OTHER. */
    readonly kinds: Uint8Array,
  ) {}

  matches = 0;
}

/** The few shapes a log's producers write, most recently matched first. */
export class LearnedShapes {
  private readonly shapes: Shape[] = [];
  /** Records in a row that matched no shape: after many, learning pauses (a log of ever-new shapes). */
  private misses = 0;

  wantsToLearn(): boolean {
    this.misses++;
    return this.misses <= MISSES_BEFORE_PAUSE || this.misses % MISSES_BEFORE_PAUSE === 0;
  }

  match(scanner: RecordScanner, bytes: Buffer, start: number, end: number): boolean {
    const shapes = this.shapes;
    for (let i = 0; i < shapes.length; i++) {
      const shape = shapes[i]!;
      if (!matchShape(shape, scanner, bytes, start, end)) continue;
      // The most matched shape is tried first (a mismatch can cost half a record's work).
      shape.matches++;
      if (i > 0 && shape.matches > shapes[i - 1]!.matches) {
        shapes[i] = shapes[i - 1]!;
        shapes[i - 1] = shape;
      }
      this.misses = 0;
      return true;
    }
    return false;
  }

  learn(trace: Trace, bytes: Buffer, start: number, end: number): void {
    const count = trace.starts.length;
    const fixed: FixedBytes[] = [];
    let from = start;
    for (let t = 0; t < count; t++) {
      fixed.push(new FixedBytes(bytes.subarray(from, trace.starts[t])));
      from = trace.ends[t]!;
    }
    fixed.push(new FixedBytes(bytes.subarray(from, end)));
    const fields = new Int32Array(count).fill(NONE);
    const kinds = new Uint8Array(FIELD_COUNT);
    for (let f = 0; f < FIELD_COUNT; f++) {
      const owner = trace.owners[f]!;
      if (owner >= 0) fields[owner] = f;
      kinds[f] = owner === OWNER_OTHER ? OTHER : ABSENT;
    }
    if (this.shapes.length >= MAX_SHAPES) this.shapes.pop();
    this.shapes.push(new Shape(fixed, [...trace.numbers], fields, kinds));
  }
}

const MAX_SHAPES = 8;
const MISSES_BEFORE_PAUSE = 64;

function matchShape(shape: Shape, scanner: RecordScanner, bytes: Buffer, start: number, end: number): boolean {
  const { fixed, numbers, fields } = shape;
  const words = scanner.wordView(bytes);
  const offset = bytes.byteOffset;
  let p = start;
  const tokens = numbers.length;
  scanner.presetKinds(shape.kinds);
  for (let t = 0; ; t++) {
    const expected = fixed[t]!;
    if (p + expected.length > end || !expected.matches(bytes, p, words, offset)) return false;
    p += expected.length;
    if (t === tokens) return p === end;
    p = numbers[t] ? scanner.readShapeNumber(bytes, p, end, fields[t]!) : scanner.readShapeString(bytes, p, end, fields[t]!);
    if (p < 0) return false;
  }
}

/**
 * Bytes a record must have at some place, compared four at a time: for each of the four alignments the place can
 * have in memory, the whole words the bytes cover are kept as integers, to compare with the record's own words.
 */
class FixedBytes {
  readonly length: number;
  private readonly bytes: Buffer;
  /** Per alignment (the place's offset in memory, modulo 4): bytes before the first whole word, and the words. */
  private readonly heads: number[] = [];
  private readonly words: Uint32Array[] = [];

  constructor(bytes: Buffer) {
    this.bytes = Buffer.from(bytes);
    this.length = bytes.length;
    for (let alignment = 0; alignment < 4; alignment++) {
      const head = Math.min((4 - alignment) & 3, this.length);
      const count = (this.length - head) >> 2;
      const copy = new Uint8Array(count * 4);
      copy.set(this.bytes.subarray(head, head + count * 4));
      this.heads.push(head);
      this.words.push(new Uint32Array(copy.buffer));
    }
  }

  /** Whether `bytes[at, at + length)` are these bytes; `words` views the memory of `bytes`, whose offset in it is `offset`. */
  matches(bytes: Buffer, at: number, words: Uint32Array<ArrayBufferLike>, offset: number): boolean {
    const own = this.bytes;
    const alignment = (offset + at) & 3;
    const head = this.heads[alignment]!;
    for (let i = 0; i < head; i++) if (bytes[at + i] !== own[i]) return false;
    const expected = this.words[alignment]!;
    const first = (offset + at + head) >> 2;
    for (let w = 0; w < expected.length; w++) if (words[first + w] !== expected[w]) return false;
    for (let i = head + expected.length * 4; i < own.length; i++) if (bytes[at + i] !== own[i]) return false;
    return true;
  }
}
