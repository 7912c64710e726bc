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

export class MalformedRecordError extends Error {
  constructor(message: string) {
    // No stack: the error is a verdict on a record, thrown once per bad line, and a stack costs microseconds.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

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
 * Extracts {@link RecordFields} from one record's JSON text through `JSON.parse`. This is the generic path: most
 * records take recordScanner.ts's faster one, which a property test holds to the same results.
 * Throws {@link MalformedRecordError} for text that is not a JSON object.
 */
export function extractFields(text: string): RecordFields {
  if (!bracedObject(text)) throw new MalformedRecordError('the record is not a JSON object');
  let value: unknown;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new MalformedRecordError((error as Error).message);
  } finally {
    Error.stackTraceLimit = limit;
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

/** Whether the text, blanks aside, begins with `{` and ends with `}`: what a JSON object does, and little else. */
function bracedObject(text: string): boolean {
  let first = 0;
  while (first < text.length && isJsonBlank(text.charCodeAt(first))) first++;
  let last = text.length - 1;
  while (last > first && isJsonBlank(text.charCodeAt(last))) last--;
  return last > first && text.charCodeAt(first) === 123 && text.charCodeAt(last) === 125;
}

function isJsonBlank(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}
