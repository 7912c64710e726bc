import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AcrEmulator, type AcrEmulatorOptions } from '../emulators/acr/server.js';

/** Starts the ACR emulator with the run's test CA (which the SDKs trust through NODE_EXTRA_CA_CERTS). */
export function startEmulator(options: AcrEmulatorOptions = {}): Promise<AcrEmulator> {
  const directory = process.env.ACR_EMULATOR_CA_DIR;
  if (directory === undefined) throw new Error('the vitest global setup did not create the test CA');
  const ca = { certificatePem: readFileSync(join(directory, 'ca.pem'), 'utf8'), privateKeyPem: readFileSync(join(directory, 'ca.key'), 'utf8') };
  return AcrEmulator.start({ ca, ...options });
}
