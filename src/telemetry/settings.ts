import type { Settings } from '../config.js';

/**
 * The platform's own Application Insights settings, which infra/main.bicep sets and the Functions host reads
 * too. They are not the cleaner's settings (no flag, no default): without a connection string the run sends no
 * telemetry, and a bad value costs the run's telemetry, never the run.
 */
export const TELEMETRY_SETTINGS = ['APPLICATIONINSIGHTS_CONNECTION_STRING', 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'] as const;

export interface TelemetryTarget {
  connectionString: string;
  /** `Authorization=AAD` in APPLICATIONINSIGHTS_AUTHENTICATION_STRING: a managed identity (its client id, if given). */
  entra?: { clientId?: string };
  /** The function app's name (WEBSITE_SITE_NAME, set by the platform): the events' cloud role. */
  roleName?: string;
}

export interface TelemetrySettings {
  target?: TelemetryTarget;
  /** Problems with the settings, each naming its setting; telemetry is off when there are any. */
  problems: string[];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `Key=value;Key=value`, keys case-insensitive, as Azure writes connection strings. */
function pairs(text: string): Map<string, string> | string {
  const map = new Map<string, string>();
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const equals = part.indexOf('=');
    if (equals <= 0) return `"${part.trim()}" is not Key=value`;
    map.set(part.slice(0, equals).trim().toLowerCase(), part.slice(equals + 1).trim());
  }
  return map;
}

export function loadTelemetrySettings(settings: Settings): TelemetrySettings {
  const connectionString = settings.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim() ?? '';
  const authentication = settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING?.trim() ?? '';
  if (connectionString === '') return { problems: [] };
  const problems: string[] = [];

  const connection = pairs(connectionString);
  if (typeof connection === 'string') problems.push(`APPLICATIONINSIGHTS_CONNECTION_STRING: ${connection}`);
  else {
    const key = connection.get('instrumentationkey');
    if (key === undefined || !GUID.test(key)) problems.push('APPLICATIONINSIGHTS_CONNECTION_STRING: needs InstrumentationKey=<GUID>');
    const endpoint = connection.get('ingestionendpoint');
    if (endpoint !== undefined && !/^https:\/\/[^/\s]+/i.test(endpoint)) problems.push('APPLICATIONINSIGHTS_CONNECTION_STRING: IngestionEndpoint must be an https:// URL');
  }

  let entra: TelemetryTarget['entra'];
  if (authentication !== '') {
    const auth = pairs(authentication);
    if (typeof auth === 'string') problems.push(`APPLICATIONINSIGHTS_AUTHENTICATION_STRING: ${auth}`);
    else if (auth.get('authorization') !== 'AAD') problems.push('APPLICATIONINSIGHTS_AUTHENTICATION_STRING: must be Authorization=AAD (with ClientId=<GUID> for a user-assigned identity)');
    else {
      const clientId = auth.get('clientid');
      if (clientId !== undefined && !GUID.test(clientId)) problems.push('APPLICATIONINSIGHTS_AUTHENTICATION_STRING: ClientId must be a GUID');
      entra = clientId === undefined ? {} : { clientId };
    }
  }
  if (problems.length > 0) return { problems };
  const roleName = settings.WEBSITE_SITE_NAME?.trim() || undefined;
  return { target: { connectionString, ...(entra ? { entra } : {}), ...(roleName ? { roleName } : {}) }, problems };
}
