/**
 * The fields of a `ContainerRegistryRepositoryEvents` record that the cleaner looks at, as strings.
 * Numbers (a `resultDescription` of 200 rather than "200") arrive as their JSON text.
 */
export interface RecordFields {
  time?: string;
  category?: string;
  operationName?: string;
  resultType?: string;
  resultDescription?: string;
  resourceId?: string;
  repository?: string;
  digest?: string;
  userAgent?: string;
  loginServer?: string;
}

export class MalformedRecordError extends Error {}

/** Every field present (as undefined), so that all field objects share one shape on the hot path. */
export function emptyFields(): RecordFields {
  return {
    time: undefined,
    category: undefined,
    operationName: undefined,
    resultType: undefined,
    resultDescription: undefined,
    resourceId: undefined,
    repository: undefined,
    digest: undefined,
    userAgent: undefined,
    loginServer: undefined,
  };
}

/**
 * Extracts {@link RecordFields} from one record's text, given as latin1 (one char per byte, see
 * lines.ts). Real records are compact, flat JSON without escapes: for those one regular expression checks
 * the whole grammar and the fields are taken by key position. Anything else (escapes, spaces, nesting other
 * than `properties`, an object `identity`) goes through `JSON.parse`; both paths agree on every input.
 * Throws {@link MalformedRecordError} for text that is not a JSON object.
 */
export function extractFields(latin1Text: string): RecordFields {
  if (latin1Text.indexOf('\\') === -1 && COMPACT_FLAT_RECORD.test(latin1Text)) return fieldsByPosition(latin1Text);
  return fieldsFromParsed(NON_ASCII.test(latin1Text) ? Buffer.from(latin1Text, 'latin1').toString('utf8') : latin1Text);
}

function fieldsFromParsed(text: string): RecordFields {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new MalformedRecordError((error as Error).message);
  }
  if (!isObject(value)) throw new MalformedRecordError('the record is not a JSON object');
  const fields: RecordFields = {};
  for (const key of TOP_LEVEL_KEYS) {
    const text = scalarText(value[key]);
    if (text !== undefined) fields[key] = text;
  }
  const properties = value['properties'];
  if (isObject(properties)) {
    for (const key of PROPERTY_KEYS) {
      const text = scalarText(properties[key]);
      if (text !== undefined) fields[key] = text;
    }
  }
  return fields;
}

export const TOP_LEVEL_KEYS = ['time', 'category', 'operationName', 'resultType', 'resultDescription', 'resourceId'] as const;
export const PROPERTY_KEYS = ['repository', 'digest', 'userAgent', 'loginServer'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

// eslint-disable-next-line no-control-regex -- matching bytes outside ASCII is the point
const NON_ASCII = /[^\x00-\x7f]/;

// The grammar of a compact record whose only nested value is a flat `properties` object and whose
// strings are ASCII without escapes. In such text every `"name":` is a key, which is what fieldsByPosition
// relies on, and every value is already decoded.
export const STRING_BODY = '[^"\\\\\\x00-\\x1f\\x80-\\xff]*';
const STRING = `"${STRING_BODY}"`;
export const NUMBER = '-?(?:0|[1-9]\\d*)(?:\\.\\d+)?(?:[eE][+-]?\\d+)?';
export const SCALAR = `(?:${STRING}|${NUMBER}|true|false|null)`;
const FLAT_OBJECT = `\\{(?:${STRING}:${SCALAR}(?:,${STRING}:${SCALAR})*)?\\}`;
const PAIR = `(?:"properties":${FLAT_OBJECT}|${STRING}:${SCALAR})`;
export const COMPACT_FLAT_RECORD = new RegExp(`^\\{(?:${PAIR}(?:,${PAIR})*)?\\}$`);
const PROPERTIES_OBJECT = new RegExp(FLAT_OBJECT, 'y');

interface Needle {
  id: number;
  key: keyof RecordFields;
  text: string;
  inProperties: boolean;
}

const NEEDLES: Needle[] = [
  ...TOP_LEVEL_KEYS.map((key) => ({ key, inProperties: false })),
  ...PROPERTY_KEYS.map((key) => ({ key, inProperties: true })),
].map((needle, id) => ({ ...needle, id, text: `"${needle.key}":` }));

/** The order the keys appeared in the last record; records of one producer keep one order. */
let learnedOrder: Needle[] = [...NEEDLES];
const positions = new Array<number>(NEEDLES.length).fill(-1);

function fieldsByPosition(s: string): RecordFields {
  const fields = emptyFields();
  const propertiesStart = s.indexOf('"properties":{');
  let propertiesEnd = -1;
  if (propertiesStart !== -1) {
    PROPERTIES_OBJECT.lastIndex = propertiesStart + 13;
    PROPERTIES_OBJECT.test(s);
    propertiesEnd = PROPERTIES_OBJECT.lastIndex;
    if (s.indexOf('"properties":{', propertiesEnd) !== -1) return fieldsFromParsed(s);
  }
  let cursor = 0;
  let outOfOrder = false;
  for (const needle of learnedOrder) {
    let at = s.indexOf(needle.text, cursor);
    if (at === -1 || (at > propertiesStart && at < propertiesEnd) !== needle.inProperties) {
      at = locate(s, needle, propertiesStart, propertiesEnd);
      if (at !== -1) outOfOrder = true;
    }
    positions[needle.id] = at;
    if (at !== -1) {
      setValue(fields, needle.key, s, at + needle.text.length);
      cursor = at + needle.text.length;
    }
  }
  if (outOfOrder) {
    learnedOrder = [...NEEDLES].sort((a, b) => (positions[a.id] === -1 ? 1e9 : positions[a.id]!) - (positions[b.id] === -1 ? 1e9 : positions[b.id]!));
  }
  return fields;
}

/** The key's position searched from the start of its scope: top level, or inside `properties`. */
function locate(s: string, needle: Needle, propertiesStart: number, propertiesEnd: number): number {
  if (needle.inProperties) {
    if (propertiesStart === -1) return -1;
    const at = s.indexOf(needle.text, propertiesStart);
    return at !== -1 && at < propertiesEnd ? at : -1;
  }
  const at = s.indexOf(needle.text);
  return at > propertiesStart && at < propertiesEnd ? s.indexOf(needle.text, propertiesEnd) : at;
}

function setValue(fields: RecordFields, key: keyof RecordFields, s: string, at: number): void {
  const first = s.charCodeAt(at);
  if (first === 34) {
    fields[key] = s.slice(at + 1, s.indexOf('"', at + 1));
  } else if (first === 45 || (first >= 48 && first <= 57)) {
    let end = at + 1;
    for (;;) {
      const c = s.charCodeAt(end);
      if (c === 44 || c === 125) break;
      end++;
    }
    const value = Number(s.slice(at, end));
    if (Number.isFinite(value)) fields[key] = String(value);
  }
}
