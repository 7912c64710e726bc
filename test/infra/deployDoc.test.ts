/** docs/deploy.md as a new user reads it: every azd variable the template takes is there, in the order a first deployment needs. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(root, 'docs', 'deploy.md'), 'utf8');
const parameters = JSON.parse(readFileSync(join(root, 'infra', 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value: string }> };
/** The azd environment variables the parameters file reads, e.g. `${ACR_NAME}` or `${DRY_RUN=true}`. */
const variables = [...new Set(Object.values(parameters.parameters).flatMap(({ value }) => [...value.matchAll(/\$\{(\w+)/g)].map((match) => match[1]!)))];

describe('docs/deploy.md', () => {
  it('names every azd variable that infra/main.parameters.json reads', () => {
    const azdSetByAzd = ['AZURE_ENV_NAME'];
    expect(variables.filter((name) => !azdSetByAzd.includes(name) && !doc.includes(name))).toEqual([]);
  });

  it('gives the azd commands in the order a first deployment runs them', () => {
    const steps = ['azd auth login', 'azd env new', 'azd env set AZURE_LOCATION', 'azd env set AZURE_RESOURCE_GROUP', 'azd env set ACR_NAME', 'azd env set ACR_RESOURCE_GROUP', 'azd env set LOG_STORAGE_ACCOUNT', 'azd up'];
    const positions = steps.map((step) => doc.indexOf(step));
    expect(positions.filter((position) => position < 0)).toEqual([]);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('deploys the package npm run package builds, and says how to dry-run, turn deletion on and roll back', () => {
    expect(doc).toContain('npm run package');
    expect(doc).toContain('az functionapp deployment source config-zip');
    expect(doc).toContain('.package/acr-cache-cleaner.zip');
    for (const heading of ['## The first night is a dry run', '## Turning deletion on', '## Rolling back']) expect(doc).toContain(heading);
  });
});
