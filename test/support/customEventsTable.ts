import type { KqlRow, KqlTable } from './kql.js';
import type { Envelope } from './ingestionStandIn.js';

/**
 * Envelopes as Application Insights stores them in its `customEvents` table: `timestamp` from the envelope's
 * time, `name` from the EventData, `customDimensions` from its properties, `customMeasurements` from its
 * measurements, the operation and cloud columns from its tags.
 */
export function customEventRow(envelope: Envelope): KqlRow {
  if (envelope.data.baseType !== 'EventData') throw new Error(`not a custom event: ${envelope.data.baseType}`);
  return {
    timestamp: new Date(envelope.time),
    name: envelope.data.baseData.name ?? '',
    itemType: 'customEvent',
    customDimensions: { ...(envelope.data.baseData.properties ?? {}) },
    customMeasurements: { ...(envelope.data.baseData.measurements ?? {}) },
    operation_Id: envelope.tags['ai.operation.id'] ?? '',
    operation_ParentId: envelope.tags['ai.operation.parentId'] ?? '',
    cloud_RoleName: envelope.tags['ai.cloud.role'] ?? '',
    cloud_RoleInstance: envelope.tags['ai.cloud.roleInstance'] ?? '',
    sdkVersion: envelope.tags['ai.internal.sdkVersion'] ?? '',
    iKey: envelope.iKey,
  };
}

const COLUMNS = ['timestamp', 'name', 'itemType', 'customDimensions', 'customMeasurements', 'operation_Id', 'operation_ParentId', 'cloud_RoleName', 'cloud_RoleInstance', 'sdkVersion', 'iKey'];

/** The `customEvents` table, with the property-bag keys that `rows` really carry as its strict schema. */
export function customEventsTable(rows: KqlRow[], schemaRows: KqlRow[] = rows): KqlTable {
  const keys = (column: string) => new Set(schemaRows.flatMap((row) => Object.keys((row[column] as Record<string, unknown> | null) ?? {})));
  return { rows, columns: COLUMNS, bagKeys: { customDimensions: keys('customDimensions'), customMeasurements: keys('customMeasurements') } };
}

/** The same event, as if its run had ended at `time` (a night on a test's timeline). */
export function at(row: KqlRow, time: Date): KqlRow {
  return { ...row, timestamp: time };
}
