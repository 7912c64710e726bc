import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa } from '../emulators/acr/tls.js';

/**
 * One test CA for the whole run. Its certificate goes into NODE_EXTRA_CA_CERTS before the test workers
 * start, so the real SDKs trust the emulator's HTTPS exactly as they would trust a real registry.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const directory = await mkdtemp(join(tmpdir(), 'acr-cache-cleaner-ca-'));
  const ca = await createTestCa();
  await writeFile(join(directory, 'ca.pem'), ca.certificatePem);
  await writeFile(join(directory, 'ca.key'), ca.privateKeyPem);
  process.env.NODE_EXTRA_CA_CERTS = join(directory, 'ca.pem');
  process.env.ACR_EMULATOR_CA_DIR = directory;
  return async () => rm(directory, { recursive: true, force: true });
}
