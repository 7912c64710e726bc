/**
 * `npm run acr-emulator -- --seed inventory.json [--port 8443] [--login-server NAME] [--latency-ms 10]
 *   [--read-limit N] [--write-limit N] [--delete-limit N] [--oauth-limit N] [--window-ms 60000]
 *   [--fault KIND[:TIMES]]... [--anonymous-pull] [--password-credential USER:PASSWORD]...`
 * Serves an ACR emulator seeded from an inventory snapshot until stopped (Ctrl-C), and prints its
 * endpoint and the CA certificate to trust (NODE_EXTRA_CA_CERTS).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readInventoryFile } from '../../../src/inventory.js';
import { RegistryState } from './registryState.js';
import { AcrEmulator, type FaultKind, type OperationClass, type RateLimit } from './server.js';

const FAULTS: FaultKind[] = ['429-without-retry-after', 'retry-after', '403', '500', '503', 'drop-connection', 'lose-response', 'hang', 'slow', 'expire-token', 'revoke-tokens'];

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) throw new Error(`--${name} must be a non-negative number, not ${JSON.stringify(value)}`);
  return number;
}

function passwordCredential(spec: string) {
  const colon = spec.indexOf(':');
  if (colon <= 0) throw new Error(`--password-credential must be USER:PASSWORD, not ${JSON.stringify(spec)}`);
  return { username: spec.slice(0, colon), password: spec.slice(colon + 1) };
}

export async function startStandalone(argv: string[]): Promise<{ emulator: AcrEmulator; caFile: string }> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' },
      port: { type: 'string' },
      'login-server': { type: 'string' },
      'latency-ms': { type: 'string' },
      'read-limit': { type: 'string' },
      'write-limit': { type: 'string' },
      'delete-limit': { type: 'string' },
      'oauth-limit': { type: 'string' },
      'window-ms': { type: 'string' },
      fault: { type: 'string', multiple: true },
      'anonymous-pull': { type: 'boolean' },
      'password-credential': { type: 'string', multiple: true },
    },
    strict: true,
  });
  const state = values.seed === undefined ? new RegistryState() : RegistryState.fromInventory(await readInventoryFile(values.seed));
  const windowMs = positive('window-ms', values['window-ms']) ?? 60_000;
  const limits: Partial<Record<OperationClass, RateLimit>> = {};
  for (const operationClass of ['read', 'write', 'delete', 'oauth'] as const) {
    const limit = positive(`${operationClass}-limit`, values[`${operationClass}-limit`]);
    if (limit !== undefined) limits[operationClass] = { limit, windowMs };
  }
  const emulator = await AcrEmulator.start({
    state,
    port: positive('port', values.port),
    loginServer: values['login-server'],
    latencyMs: positive('latency-ms', values['latency-ms']),
    limits,
    anonymousPull: values['anonymous-pull'],
    passwordCredentials: (values['password-credential'] ?? []).map(passwordCredential),
  });
  for (const spec of values.fault ?? []) {
    const [kind, times] = spec.split(':');
    if (!FAULTS.includes(kind as FaultKind)) throw new Error(`--fault must be one of ${FAULTS.join(', ')} (optionally :TIMES), not ${spec}`);
    emulator.addFault({ kind: kind as FaultKind, times: times === undefined ? 1 : Number(times) });
  }
  const caFile = join(await mkdtemp(join(tmpdir(), 'acr-emulator-')), 'ca.pem');
  await writeFile(caFile, emulator.caCertificatePem);
  return { emulator, caFile };
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  try {
    const { emulator, caFile } = await startStandalone(process.argv.slice(2));
    const repositories = emulator.state.repositories.size;
    console.log(`ACR emulator for ${emulator.loginServer} (${repositories} repositories) at ${emulator.endpoint}`);
    console.log(`CA certificate: ${caFile}`);
    console.log(`try: NODE_EXTRA_CA_CERTS=${caFile} npx acr-cache-cleaner --container-registry ${emulator.endpoint} --credential emulator --log-dir examples/logs --dry-run`);
    const stop = async () => {
      await emulator.stop();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop());
    process.on('SIGTERM', () => void stop());
  } catch (error) {
    console.error(`acr-emulator: ${(error as Error).message}`);
    process.exit(2);
  }
}
