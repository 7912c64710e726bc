import { emptyFields, type RecordFields } from './fields.js';
import { isOwnUserAgent, type RecordFilter, type SkipReason } from './record.js';
import { ASCII_ESCAPED, ESCAPED, FIELD_COUNT, FIELD_NAMES, NUMBER, OUTCOME, RecordGrammar, STRING } from './recordGrammar.js';

export { fastPathUnavailable, MAX_DEPTH } from './recordGrammar.js';

/**
 * The fast path through a record: recordGrammar.ts's pass over its bytes (the whole JSON grammar validated, the
 * fields located, nothing decoded), then the common decisions made on those bytes. Whatever the grammar pass cannot
 * prove it reads exactly as `JSON.parse` would makes `read` answer false, and the caller takes the generic path
 * (fields.ts); the few values decided on bytes are checked to be ASCII. Property tests hold both paths to identical
 * fields and decisions.
 */
export class RecordScanner {
  private readonly grammar = sharedGrammar();
  /** The time `classify` found (clamped to the window's end), NaN when its outcome carries none. */
  timeMs = Number.NaN;

  /** Hands over the chunk of the log whose records `read` is about to be given (see RecordGrammar.load). */
  load(chunk: Buffer): void {
    this.grammar.load(chunk);
  }

  /** Scans the record `bytes[start, end)`; false when it must take the generic path. */
  read(bytes: Buffer, start: number, end: number): boolean {
    return this.grammar.scan(bytes, start, end);
  }

  /** The fields of the record `read` accepted, as `JSON.parse` and fields.ts would give them. */
  fields(bytes: Buffer): RecordFields {
    const fields = emptyFields();
    for (let f = 0; f < FIELD_COUNT; f++) fields[FIELD_NAMES[f]!] = this.value(bytes, f);
    return fields;
  }

  /**
   * The classification of the record `read` accepted, decided on its bytes for the common cases: `'access'` (the
   * repository and digest are at `repositoryStart`… and `digestStart`…, lower case already), a skip reason, or
   * undefined — anything less common (another case, escapes, `<nil>`, a time in another format, a date in the
   * future, a missing field) — for record.ts's `classifyFields` to decide on `fields()`. Every answer given here is
   * the one `classifyFields` gives; a property test holds them together.
   */
  classify(bytes: Buffer, filter: RecordFilter): 'access' | SkipReason | undefined {
    const outcome = this.grammar.decide(filter);
    this.timeMs = this.grammar.time[0]!;
    switch (outcome) {
      case OUTCOME.ACCESS:
        return 'access';
      case OUTCOME.ACCESS_IF_AGENT: {
        const text = this.value(bytes, USER_AGENT) ?? '';
        if (isOwnUserAgent(text)) return 'own-user-agent';
        return filter.ignoreUserAgents?.test(text) ? 'ignored-user-agent' : 'access';
      }
      case OUTCOME.OUTSIDE_WINDOW:
        return 'outside-window';
      case OUTCOME.OTHER_REGISTRY:
        return 'other-registry';
      case OUTCOME.UNSUCCESSFUL:
        return 'unsuccessful';
      default:
        return undefined;
    }
  }

  /** The 64 hex digits of the digest of the last access `classify` found, as 8 integers (for AccessCounts). */
  get digestWords(): Int32Array {
    return this.grammar.digestWords;
  }

  get repositoryStart(): number {
    return this.grammar.starts[REPOSITORY]!;
  }

  get repositoryEnd(): number {
    return this.grammar.ends[REPOSITORY]!;
  }

  get digestStart(): number {
    return this.grammar.starts[DIGEST]!;
  }

  get digestEnd(): number {
    return this.grammar.ends[DIGEST]!;
  }

  /** What `JSON.parse` and fields.ts's `scalarText` would make of a field's last value. */
  private value(bytes: Buffer, field: number): string | undefined {
    const start = this.grammar.starts[field]!;
    const end = this.grammar.ends[field]!;
    switch (this.grammar.kinds[field]) {
      case STRING:
        return bytes.toString('utf8', start, end);
      case ESCAPED:
      case ASCII_ESCAPED:
        return JSON.parse(bytes.toString('utf8', start - 1, end + 1)) as string;
      case NUMBER: {
        const number = Number(bytes.toString('latin1', start, end));
        return Number.isFinite(number) ? String(number) : undefined;
      }
      default:
        return undefined;
    }
  }
}

let shared: RecordGrammar | undefined;

/**
 * One grammar module for every scanner of the process (a log folder may hold thousands of files, and a module
 * instance costs about 0.1 ms): scanning, deciding and reading a record's fields happen in one synchronous
 * stretch, and every chunk is loaded again before its records are scanned, so scanners taking turns cannot mix up
 * their records.
 */
function sharedGrammar(): RecordGrammar {
  shared ??= new RecordGrammar();
  return shared;
}

const USER_AGENT = FIELD_NAMES.indexOf('userAgent');
const REPOSITORY = FIELD_NAMES.indexOf('repository');
const DIGEST = FIELD_NAMES.indexOf('digest');
