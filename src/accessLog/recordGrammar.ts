import { PROPERTY_KEYS, TOP_LEVEL_KEYS } from './fields.js';
import { CLOCK_SKEW_ALLOWANCE_MS, OWN_USER_AGENT_PREFIX, REPOSITORY_EVENTS_CATEGORY, type RecordFilter } from './record.js';
import { RECORD_GRAMMAR_WASM } from './recordGrammarWasm.js';

/**
 * The grammar pass of recordScanner.ts, in WebAssembly (src/accessLog/wasm/recordGrammar.ts, built by
 * scripts/build-wasm.mjs): one pass over a record's bytes that validates the whole JSON grammar — strings and their
 * escapes, numbers, literals, nesting — and notes where the fields the cleaner reads are, decoding nothing. Any key
 * order, any spacing, any nested objects: keys count only at their own depth (the top level, or directly in the
 * top-level `properties` object), and a key given twice counts with its last value, as `JSON.parse` does.
 *
 * Whatever it cannot prove it reads exactly as `JSON.parse` would — a raw control character, nesting deeper than
 * {@link MAX_DEPTH}, a key written with escapes where keys count, anything malformed — makes `scan` answer false,
 * and the caller takes the generic path (fields.ts). Bytes outside ASCII may stand anywhere in a string: UTF-8
 * never puts an ASCII byte inside a character, and a decoder replaces what is not UTF-8 without swallowing the
 * bytes after it, so they change no structure. Strings are crossed sixteen bytes at a time (SIMD).
 */
export class RecordGrammar {
  private readonly exports: GrammarExports;
  private readonly memory: WasmMemory;
  private readonly input: number;
  private capacity = 0;
  /** The chunk `load` copied to the input. */
  private chunk: Buffer | undefined;
  private bytes!: Uint8Array;
  /** Per field slot (FIELD_NAMES): its KIND, and where its value is in the buffer last scanned. */
  kinds!: Uint8Array;
  starts!: Int32Array;
  ends!: Int32Array;
  /** What `decide` found: the digest's 64 hex digits as 8 integers, and the record's time (NaN for none). */
  digestWords!: Int32Array;
  time!: Float64Array;
  /** The filter the module holds. */
  private startMs = Number.NaN;
  private endMs = Number.NaN;
  private registryName: string | undefined;
  private ignoresAgents = false;

  constructor() {
    this.exports = instantiate();
    this.memory = this.exports.memory;
    this.input = this.exports.inputOffset();
    this.exports.init();
    this.exports.setFirstPropertySlot(FIRST_PROPERTY);
    this.remap();
    fillKeyTable(this.bytes, this.exports, 0, [...TOP_LEVEL_KEYS, 'properties'], 0);
    fillKeyTable(this.bytes, this.exports, 1, PROPERTY_KEYS, FIRST_PROPERTY);
    const texts = [REPOSITORY_EVENTS_CATEGORY, 'HttpStatusCode', OWN_USER_AGENT_PREFIX.slice(0, -1)].map((text) => Buffer.from(text));
    [this.exports.categoryTextOffset(), this.exports.resultTypeTextOffset(), this.exports.ownNameTextOffset()].forEach((offset, i) => this.bytes.set(texts[i]!, offset));
    this.exports.setTexts(texts[0]!.length, texts[1]!.length, texts[2]!.length, CLOCK_SKEW_ALLOWANCE_MS);
    const slot = (name: (typeof FIELD_NAMES)[number]) => FIELD_NAMES.indexOf(name);
    this.exports.setSlots(slot('time'), slot('category'), slot('operationName'), slot('resultType'), slot('resultDescription'), slot('resourceId'), slot('repository'), slot('digest'), slot('userAgent'));
  }

  /**
   * The decision on the record `scan` last accepted (an OUTCOME), for the common cases: UNDECIDED for anything less
   * common, which the caller decides on the decoded fields.
   */
  decide(filter: RecordFilter): number {
    // Compared by value: a caller may change a filter object between two records.
    const { window, registryName } = filter;
    const ignoresAgents = filter.ignoreUserAgents !== undefined;
    if (window.startMs !== this.startMs || window.endMs !== this.endMs || registryName !== this.registryName || ignoresAgents !== this.ignoresAgents) {
      this.useFilter(window.startMs, window.endMs, registryName, ignoresAgents);
    }
    return this.exports.classify();
  }

  private useFilter(startMs: number, endMs: number, registryName: string | undefined, ignoresAgents: boolean): void {
    if (registryName !== undefined && registryName.length > MAX_REGISTRY_NAME) throw new Error(`a registry name of ${registryName.length} characters (at most ${MAX_REGISTRY_NAME})`);
    if (registryName !== undefined) {
      const units = new Uint16Array(this.memory.buffer, this.exports.registryNameOffset(), registryName.length);
      for (let i = 0; i < registryName.length; i++) units[i] = registryName.charCodeAt(i);
    }
    this.exports.setFilter(startMs, endMs, registryName?.length ?? -1, ignoresAgents);
    this.startMs = startMs;
    this.endMs = endMs;
    this.registryName = registryName;
    this.ignoresAgents = ignoresAgents;
  }

  /**
   * Copies a chunk of a log into the module's memory, so that its records are scanned where they are; records from
   * any other buffer (one that joins the end of a chunk to the start of the next) are copied one by one. Called for
   * every chunk, even when a source reads each into the same buffer.
   */
  load(chunk: Buffer): void {
    this.chunk = undefined;
    if (chunk.length > MAX_CHUNK_BYTES) return;
    this.reserve(chunk.length);
    chunk.copy(this.bytes, this.input);
    this.chunk = chunk;
  }

  /** Scans the record `bytes[start, end)`: true when it is valid JSON read whole (the slots then hold its fields). */
  scan(bytes: Buffer, start: number, end: number): boolean {
    // The module keeps offsets as 32-bit integers.
    if (end > MAX_OFFSET) return false;
    const length = end - start;
    if (bytes === this.chunk) return this.exports.scan(start, length, start) === 1;
    // After the chunk, if one is loaded, and the 16 bytes read past it.
    const at = this.chunk === undefined ? 0 : this.chunk.length + READ_PAST_END;
    this.reserve(at + length);
    bytes.copy(this.bytes, this.input + at, start, end);
    return this.exports.scan(at, length, start) === 1;
  }

  /** Makes room for `length` bytes at the input (and the 16 read past them). */
  private reserve(length: number): void {
    if (length <= this.capacity) return;
    const needed = this.input + length + READ_PAST_END;
    const pages = Math.ceil((needed - this.memory.buffer.byteLength) / PAGE);
    if (pages > 0) this.memory.grow(pages);
    this.remap();
  }

  /** The views of the memory (a grown memory is a new buffer). */
  private remap(): void {
    const { buffer } = this.memory;
    this.bytes = new Uint8Array(buffer);
    this.kinds = new Uint8Array(buffer, this.exports.kindsOffset(), MAX_FIELDS);
    this.starts = new Int32Array(buffer, this.exports.startsOffset(), MAX_FIELDS);
    this.ends = new Int32Array(buffer, this.exports.endsOffset(), MAX_FIELDS);
    this.digestWords = new Int32Array(buffer, this.exports.digestWordsOffset(), 8);
    this.time = new Float64Array(buffer, this.exports.timeOffset(), 1);
    this.capacity = buffer.byteLength - this.input - READ_PAST_END;
  }
}

// The parts of the WebAssembly API used here (@types/node declares it only with the DOM library).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmGlobal {
  readonly value: unknown;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: WasmApi };

interface GrammarExports {
  memory: WasmMemory;
  MAX_FIELDS: WasmGlobal;
  KIND_ABSENT: WasmGlobal;
  KIND_STRING: WasmGlobal;
  KIND_ESCAPED: WasmGlobal;
  KIND_ASCII_ESCAPED: WasmGlobal;
  KIND_NUMBER: WasmGlobal;
  KIND_OTHER: WasmGlobal;
  MAX_DEPTH: WasmGlobal;
  PROPERTIES_ENTRY: WasmGlobal;
  KEY_TABLE_SIZE: WasmGlobal;
  KEY_BYTES_PER_ENTRY: WasmGlobal;
  kindsOffset(): number;
  startsOffset(): number;
  endsOffset(): number;
  keyEntriesOffset(): number;
  keyBytesOffset(): number;
  inputOffset(): number;
  init(): void;
  setFirstPropertySlot(slot: number): void;
  scan(at: number, length: number, base: number): number;
  categoryTextOffset(): number;
  resultTypeTextOffset(): number;
  ownNameTextOffset(): number;
  registryNameOffset(): number;
  digestWordsOffset(): number;
  timeOffset(): number;
  setTexts(category: number, resultType: number, ownName: number, skewMs: number): void;
  setSlots(...slots: number[]): void;
  setFilter(startMs: number, endMs: number, registryLength: number, ignoresAgents: boolean): void;
  classify(): number;
  OUTCOME_UNDECIDED: WasmGlobal;
  OUTCOME_ACCESS: WasmGlobal;
  OUTCOME_ACCESS_IF_AGENT: WasmGlobal;
  OUTCOME_OTHER_REGISTRY: WasmGlobal;
  OUTCOME_OUTSIDE_WINDOW: WasmGlobal;
  OUTCOME_UNSUCCESSFUL: WasmGlobal;
}

let compiled: object | undefined;

/** An instance of the module, compiled once per process. */
function instantiate(): GrammarExports {
  compiled ??= new wasm.Module(Buffer.from(RECORD_GRAMMAR_WASM, 'base64'));
  return new wasm.Instance(compiled, {}).exports as GrammarExports;
}

let unavailable: string | undefined;

/**
 * Why the module cannot run in this process (no WebAssembly, or a CPU without the SIMD it uses), if it cannot: every
 * record then takes the generic path, with the same results, more slowly.
 */
export function fastPathUnavailable(): string | undefined {
  return unavailable;
}

/** The module's constants, read from a throwaway instance so that both sides share one definition (NaN without it). */
function moduleConstants() {
  let exports: GrammarExports | undefined;
  try {
    exports = instantiate();
  } catch (error) {
    unavailable = `the fast log reader needs WebAssembly with SIMD, which this machine does not offer (${error instanceof Error ? error.message : String(error)}): every record was read by the generic path (the same counts, more slowly)`;
  }
  const value = (global: WasmGlobal | undefined) => (global?.value as number | undefined) ?? Number.NaN;
  return {
    MAX_FIELDS: value(exports?.MAX_FIELDS),
    ABSENT: value(exports?.KIND_ABSENT),
    STRING: value(exports?.KIND_STRING),
    ESCAPED: value(exports?.KIND_ESCAPED),
    ASCII_ESCAPED: value(exports?.KIND_ASCII_ESCAPED),
    NUMBER: value(exports?.KIND_NUMBER),
    OTHER: value(exports?.KIND_OTHER),
    MAX_DEPTH: value(exports?.MAX_DEPTH),
    PROPERTIES_ENTRY: value(exports?.PROPERTIES_ENTRY),
    KEY_TABLE_SIZE: value(exports?.KEY_TABLE_SIZE),
    KEY_BYTES_PER_ENTRY: value(exports?.KEY_BYTES_PER_ENTRY),
    UNDECIDED: value(exports?.OUTCOME_UNDECIDED),
    ACCESS: value(exports?.OUTCOME_ACCESS),
    ACCESS_IF_AGENT: value(exports?.OUTCOME_ACCESS_IF_AGENT),
    OTHER_REGISTRY: value(exports?.OUTCOME_OTHER_REGISTRY),
    OUTSIDE_WINDOW: value(exports?.OUTCOME_OUTSIDE_WINDOW),
    UNSUCCESSFUL: value(exports?.OUTCOME_UNSUCCESSFUL),
  };
}

const CONSTANTS = moduleConstants();
const { MAX_FIELDS, PROPERTIES_ENTRY, KEY_TABLE_SIZE, KEY_BYTES_PER_ENTRY } = CONSTANTS;
/** What a field slot holds: a string without escapes, with escapes, with a `\u` escape of an ASCII character (any ASCII text may hide in it), a number, or any other value. */
export const { ABSENT, STRING, ESCAPED, ASCII_ESCAPED, NUMBER, OTHER } = CONSTANTS;
/** What `decide` answers: decide on the decoded fields, an access, an access unless the user agent says otherwise, or a skip. */
export const OUTCOME = { UNDECIDED: CONSTANTS.UNDECIDED, ACCESS: CONSTANTS.ACCESS, ACCESS_IF_AGENT: CONSTANTS.ACCESS_IF_AGENT, OTHER_REGISTRY: CONSTANTS.OTHER_REGISTRY, OUTSIDE_WINDOW: CONSTANTS.OUTSIDE_WINDOW, UNSUCCESSFUL: CONSTANTS.UNSUCCESSFUL } as const;
/** Containers nested deeper than this take the generic path. */
export const MAX_DEPTH = CONSTANTS.MAX_DEPTH;

/** Field slots: the top-level fields in the order of fields.ts's TOP_LEVEL_KEYS, then its PROPERTY_KEYS. */
export const FIELD_NAMES = [...TOP_LEVEL_KEYS, ...PROPERTY_KEYS];
export const FIELD_COUNT = FIELD_NAMES.length;
const FIRST_PROPERTY = TOP_LEVEL_KEYS.length;
if (FIELD_COUNT > MAX_FIELDS) throw new Error(`the record scanner holds ${MAX_FIELDS} fields, not ${FIELD_COUNT}`);

/** 16 bytes are read at a time, some past the record's end. */
const READ_PAST_END = 16;
const PAGE = 65_536;
const MAX_OFFSET = 2 ** 31 - 1;
/** Larger chunks are not copied whole: their records are copied one by one. */
const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** UTF-16 code units the module holds of the registry's name (ACR's names are 5 to 50 characters). */
const MAX_REGISTRY_NAME = 256;

/**
 * Writes key table `table`: the keys looked for, by length and last byte (which tell them apart); an entry is the
 * key's slot + 3, PROPERTIES_ENTRY for `properties`, 0 for none; the entry's key bytes beside.
 */
function fillKeyTable(memory: Uint8Array, exports: GrammarExports, table: number, keys: readonly string[], firstSlot: number): void {
  const entries = exports.keyEntriesOffset() + table * KEY_TABLE_SIZE;
  keys.forEach((key, index) => {
    const bytes = Buffer.from(key);
    if (bytes.length < 4 || bytes.length > 31) throw new Error(`the key ${key} is not 4 to 31 bytes long`);
    const at = entries + ((bytes.length << 8) | bytes[bytes.length - 1]!);
    if (memory[at] !== 0) throw new Error(`the key ${key} has the length and last letter of another`);
    const entry = key === 'properties' ? PROPERTIES_ENTRY : firstSlot + index + 3;
    memory[at] = entry;
    memory.set(bytes, exports.keyBytesOffset() + entry * KEY_BYTES_PER_ENTRY);
  });
}
