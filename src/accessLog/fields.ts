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
 * Extracts {@link RecordFields} from one record's text, given as latin1 (one char per byte, see lines.ts),
 * through `JSON.parse`. This is the generic path: most records take recordShape.ts's faster one, which this
 * path teaches and which a property test holds to the same results.
 * Throws {@link MalformedRecordError} for text that is not a JSON object.
 */
export function extractFields(latin1Text: string): RecordFields {
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
// strings are ASCII without escapes: the records recordShape.ts can read without JSON.parse.
export const STRING_BODY = '[^"\\\\\\x00-\\x1f\\x80-\\xff]*';
const STRING = `"${STRING_BODY}"`;
export const NUMBER = '-?(?:0|[1-9]\\d*)(?:\\.\\d+)?(?:[eE][+-]?\\d+)?';
export const SCALAR = `(?:${STRING}|${NUMBER}|true|false|null)`;
const FLAT_OBJECT = `\\{(?:${STRING}:${SCALAR}(?:,${STRING}:${SCALAR})*)?\\}`;
const PAIR = `(?:"properties":${FLAT_OBJECT}|${STRING}:${SCALAR})`;
export const COMPACT_FLAT_RECORD = new RegExp(`^\\{(?:${PAIR}(?:,${PAIR})*)?\\}$`);
