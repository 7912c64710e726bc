import { COMPACT_FLAT_RECORD, emptyFields, NUMBER, PROPERTY_KEYS, SCALAR, STRING_BODY, TOP_LEVEL_KEYS, type RecordFields } from './fields.js';

/**
 * The fastest path through a log: records of one producer share one shape (the same keys in the same
 * order). From the first record of a shape this builds one sticky regular expression that checks the whole
 * record's grammar (as strictly as fields.ts does), finds its end, and captures the fields the cleaner reads,
 * in a single native pass over the chunk: no line slicing, no key searching. Records of another shape take
 * the generic path, which teaches this one.
 */
export class RecordShapes {
  private current: CompiledShape | undefined;
  /** The fields of the last record `matchAt` matched; one object, overwritten by each match. */
  readonly fields: RecordFields = emptyFields();

  /** Matches the current shape at `at` (the start of a line); returns the index after the record, or -1. */
  matchAt(text: string, at: number): number {
    const shape = this.current;
    if (shape === undefined) return -1;
    shape.regex.lastIndex = at;
    const match = shape.regex.exec(text);
    if (match === null) return -1;
    const fields = this.fields;
    fields.time = fields.category = fields.operationName = fields.resultType = fields.resultDescription = undefined;
    fields.resourceId = fields.repository = fields.digest = fields.userAgent = fields.loginServer = undefined;
    for (const { key, stringGroup, numberGroup } of shape.captures) {
      const string = match[stringGroup];
      if (string !== undefined) fields[key] = string;
      else {
        const number = match[numberGroup];
        const value = number === undefined ? Number.NaN : Number(number);
        fields[key] = Number.isFinite(value) ? String(value) : undefined;
      }
    }
    return shape.regex.lastIndex;
  }

  /** Learns the shape of a record that went the generic way (a no-op for records outside the fast grammar). */
  learn(latin1Text: string): void {
    if (!COMPACT_FLAT_RECORD.test(latin1Text)) return;
    const signature = signatureOf(latin1Text);
    if (this.current?.signature === signature) return;
    let shape = compiled.get(signature);
    if (shape === undefined) {
      shape = compile(signature);
      if (compiled.size >= MAX_SHAPES) compiled.delete(compiled.keys().next().value!);
      compiled.set(signature, shape);
    }
    this.current = shape;
  }
}

interface CompiledShape {
  signature: string;
  regex: RegExp;
  captures: { key: keyof RecordFields; stringGroup: number; numberGroup: number }[];
}

const MAX_SHAPES = 32;
const compiled = new Map<string, CompiledShape>();
const PAIR_TOKEN = new RegExp(`"(${STRING_BODY})":("${STRING_BODY}"|\\{|${NUMBER}|true|false|null)`, 'g');

/** The key sequence, e.g. `time,category,properties{repository,digest},RegionStamp` (keys hold no `{},` here). */
function signatureOf(text: string): string {
  const parts: string[] = [];
  let inProperties = false;
  let lastEnd = 1;
  PAIR_TOKEN.lastIndex = 1;
  for (let match = PAIR_TOKEN.exec(text); match !== null; match = PAIR_TOKEN.exec(text)) {
    if (inProperties && text.slice(lastEnd, match.index).includes('}')) {
      parts.push('}');
      inProperties = false;
    }
    if (match[2] === '{') {
      parts.push(`${match[1]}{`);
      inProperties = true;
    } else parts.push(match[1]!);
    lastEnd = PAIR_TOKEN.lastIndex;
  }
  if (inProperties) parts.push('}');
  return parts.join('\u0000');
}

function compile(signature: string): CompiledShape {
  const captures: CompiledShape['captures'] = [];
  let group = 0;
  let inProperties = false;
  const pieces: string[] = [];
  let first = true;
  for (const part of signature.split('\u0000')) {
    if (part === '}') {
      pieces.push('\\}');
      inProperties = false;
      first = false;
      continue;
    }
    const separator = first ? '' : ',';
    if (part.endsWith('{')) {
      pieces.push(`${separator}"${escape(part.slice(0, -1))}":\\{`);
      inProperties = true;
      first = true;
      continue;
    }
    first = false;
    const wanted = (inProperties ? (PROPERTY_KEYS as readonly string[]) : (TOP_LEVEL_KEYS as readonly string[])).includes(part);
    if (wanted) {
      captures.push({ key: part as keyof RecordFields, stringGroup: ++group, numberGroup: ++group });
      pieces.push(`${separator}"${escape(part)}":(?:"(${STRING_BODY})"|(${NUMBER})|true|false|null)`);
    } else {
      pieces.push(`${separator}"${escape(part)}":${SCALAR}`);
    }
  }
  return { signature, regex: new RegExp(`\\{${pieces.join('')}\\}(?=\\r?\\n)`, 'y'), captures };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
