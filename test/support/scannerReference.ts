import { extractFields, MalformedRecordError, type RecordFields } from '../../src/accessLog/fields.js';

/** What the record scanner is held to: fields.ts's JSON.parse path, on the bytes decoded as UTF-8. */
export function referenceFields(bytes: Buffer): RecordFields | 'malformed' {
  try {
    return extractFields(bytes.toString('utf8'));
  } catch (error) {
    if (error instanceof MalformedRecordError) return 'malformed';
    throw error;
  }
}

/** The fields present (absent ones are undefined), so that both sides compare key by key. */
export function presentFields(fields: RecordFields): RecordFields {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}
