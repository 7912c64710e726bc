import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_SETTINGS } from '../src/config.js';
import { settingsTable } from '../scripts/settings-table.js';

const root = join(import.meta.dirname, '..');

describe('the README and the example settings', () => {
  it('carries the app-settings table generated from the config schema', () => {
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain(settingsTable());
  });

  it('gives the two quick-start commands, and .ci/run runs exactly its test command', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toMatch(/^npm test\s/m);
    expect(readFileSync(join(root, '.ci', 'run'), 'utf8')).toMatch(/^npm test$/m);
  });

  it('local.settings.json.example sets every app setting and Azurite for the host storage', () => {
    const example = JSON.parse(readFileSync(join(root, 'local.settings.json.example'), 'utf8')) as { Values: Record<string, string> };
    for (const name of APP_SETTINGS) expect(Object.keys(example.Values)).toContain(name);
    expect(example.Values.AzureWebJobsStorage).toBe('UseDevelopmentStorage=true');
  });
});
