/**
 * The slots of the fields the reader extracts from a record (recordShape.ts, learnedShapes.ts), and what a slot can
 * hold: where each value is, and how it must be decoded.
 */

// Field slots; the property fields come last.
export const TIME = 0;
export const CATEGORY = 1;
export const OPERATION_NAME = 2;
export const RESULT_TYPE = 3;
export const RESULT_DESCRIPTION = 4;
export const RESOURCE_ID = 5;
export const REPOSITORY = 6;
export const DIGEST = 7;
export const USER_AGENT = 8;
export const LOGIN_SERVER = 9;
export const FIELD_COUNT = 10;
export const FIRST_PROPERTY = REPOSITORY;
export const NONE = -1;
export const PROPERTIES = -2;
export const TOP_LEVEL_SLOTS = new Map<string, number>([
  ['time', TIME],
  ['category', CATEGORY],
  ['operationName', OPERATION_NAME],
  ['resultType', RESULT_TYPE],
  ['resultDescription', RESULT_DESCRIPTION],
  ['resourceId', RESOURCE_ID],
  ['properties', PROPERTIES],
]);
export const PROPERTY_SLOTS = new Map<string, number>([
  ['repository', REPOSITORY],
  ['digest', DIGEST],
  ['userAgent', USER_AGENT],
  ['loginServer', LOGIN_SERVER],
]);

// What a field slot holds.
export const ABSENT = 0;
export const PLAIN_STRING = 1;
export const ESCAPED_STRING = 2;
export const NON_ASCII_STRING = 3;
export const NUMBER = 4;
export const OTHER = 5;
