/**
 * A second real client: the Azure CLI (`az acr repository …`, Python `requests`), signed in with a user name and
 * password as for an admin user or a repository-scoped token. `az` builds the login server from the registry name
 * and its cloud's ACR suffix, so an isolated AZURE_CONFIG_DIR sets that suffix to `:PORT` and `-n localhost` reaches
 * `https://localhost:PORT`; REQUESTS_CA_BUNDLE makes it trust the test CA.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, inventoryOf, manifest } from '../../support/builders.js';
import { startEmulator } from '../../support/emulator.js';
import { RegistryState } from './registryState.js';
import type { AcrEmulator } from './server.js';

const azInstalled = spawnSync('az', ['version'], { encoding: 'utf8' }).status === 0;
if (!azInstalled) {
  if (process.env.CI === 'true') throw new Error('the Azure CLI (Debian package azure-cli) is not installed: in CI the az tests must run (.ci/run installs it)');
  console.warn('skipping the Azure CLI tests: `az` is not installed (apt-get install azure-cli)');
}

const ADMIN = { username: 'cicache', password: 'admin-password' };
const PULL_TOKEN = { username: 'pull-only', password: 'token-password', scopes: /^repository:ci\/app:(pull|metadata_read)$/ };

let emulator: AcrEmulator;
let configDir: string;

beforeAll(async () => {
  if (!azInstalled) return;
  const state = RegistryState.fromInventory(inventoryOf({ 'ci/app': [manifest('kept', { tags: ['v1'] }), manifest('doomed', { tags: ['pr-7'] })], 'ci/web': [manifest('web')] }));
  emulator = await startEmulator({ state, loginServer: 'localhost:{port}', passwordCredentials: [ADMIN, PULL_TOKEN] });
  configDir = await mkdtemp(join(tmpdir(), 'az-config-'));
  // Known clouds take overrides from clouds.config: AzureCloud's ACR suffix becomes the emulator's port.
  await writeFile(join(configDir, 'clouds.config'), `[AzureCloud]\nsuffix_acr_login_server_endpoint = :${emulator.port}\n`);
});

afterAll(async () => {
  await emulator?.stop();
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

async function az(args: string[], credential: { username: string; password: string } = ADMIN): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    AZURE_CONFIG_DIR: configDir,
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
    AZURE_CORE_NO_COLOR: 'true',
    REQUESTS_CA_BUNDLE: join(process.env.ACR_EMULATOR_CA_DIR!, 'ca.pem'),
  };
  try {
    const { stdout, stderr } = await promisify(execFile)('az', [...args, '-n', 'localhost', '-u', credential.username, '-p', credential.password, '-o', 'json'], { env, timeout: 60_000 });
    return { ok: true, stdout, stderr };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    return { ok: false, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

describe.skipIf(!azInstalled)('the Azure CLI against the emulator', () => {
  it('lists repositories through /v2/_catalog', async () => {
    const result = await az(['acr', 'repository', 'list']);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual(['ci/app', 'ci/web']);
    expect(emulator.requestsMatching('GET', /^\/v2\/_catalog/).map((entry) => entry.status)).toContain(200);
  });

  it('shows the manifests of a repository', async () => {
    const result = await az(['acr', 'repository', 'show-manifests', '--repository', 'ci/app']);
    expect(result.ok).toBe(true);
    const manifests = JSON.parse(result.stdout) as { digest: string; tags: string[] }[];
    expect(manifests.map((entry) => [entry.digest, entry.tags]).sort()).toEqual([[digestOf('doomed'), ['pr-7']], [digestOf('kept'), ['v1']]].sort());
  });

  it('deletes a manifest by digest, with its tags', async () => {
    const result = await az(['acr', 'repository', 'delete', '--image', `ci/app@${digestOf('doomed')}`, '--yes']);
    expect(result.ok).toBe(true);
    expect([...emulator.state.repositories.get('ci/app')!.manifests.keys()]).toEqual([digestOf('kept')]);
    expect(emulator.state.repositories.get('ci/app')!.tags.has('pr-7')).toBe(false);
  });

  it('gives a repository-scoped token only what its scope map allows', async () => {
    const listed = await az(['acr', 'repository', 'show-manifests', '--repository', 'ci/app'], PULL_TOKEN);
    expect(listed.ok).toBe(true);
    const deleted = await az(['acr', 'repository', 'delete', '--image', `ci/app@${digestOf('kept')}`, '--yes'], PULL_TOKEN);
    expect(deleted.ok).toBe(false);
    expect(deleted.stderr).toContain('authentication required');
    expect(emulator.state.repositories.get('ci/app')!.manifests.has(digestOf('kept'))).toBe(true);
  });

  it('refuses a wrong password at the token endpoint', async () => {
    const result = await az(['acr', 'repository', 'list'], { username: ADMIN.username, password: 'wrong' });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain('CONNECTIVITY_ACCESS_TOKEN_ERROR');
  });
});

describe('GET /v2/_catalog', () => {
  it('challenges for registry:catalog:* like every other data-plane call', async () => {
    const server = await startEmulator({ state: new RegistryState() });
    try {
      const answer = await new Promise<{ status: number; challenge: string | undefined }>((resolve, reject) => {
        request(`${server.endpoint}/v2/_catalog`, (response) => {
          response.resume();
          resolve({ status: response.statusCode ?? 0, challenge: response.headers['www-authenticate'] });
        })
          .on('error', reject)
          .end();
      });
      expect(answer.status).toBe(401);
      expect(answer.challenge).toContain('scope="registry:catalog:*"');
    } finally {
      await server.stop();
    }
  });
});
