// Builds and lints infra/main.bicep with the project-local Bicep CLI (.tools/bicep, installed by
// scripts/install-bicep.sh). Outside CI a missing CLI is a notice saying what was skipped and how to run it;
// in CI (CI=true) a failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const entry = join(root, 'infra', 'main.bicep');
const bicep = [join(root, '.tools', 'bicep', 'bicep')].find((path) => existsSync(path));
const inCi = process.env.CI === 'true';

if (!existsSync(entry)) {
  console.log('infra: no infra/main.bicep yet, nothing to check');
  process.exit(0);
}
if (bicep === undefined) {
  const message = [
    'infra: SKIPPED bicep build, bicep lint and the ARM template tests (test/infra/): the Bicep CLI is not installed.',
    'infra: to run them: scripts/install-bicep.sh (needs the .NET SDK; installs into .tools/bicep), then npm run test:infra && npx vitest run test/infra',
  ].join('\n');
  if (inCi) {
    console.error(`${message}\ninfra: in CI (CI=true) a missing Bicep CLI is a failure`);
    process.exit(1);
  }
  console.log(message);
  process.exit(0);
}

let failed = false;
for (const [label, args] of [
  ['build', ['build', entry, '--outfile', join(root, '.tools', 'infra', 'main.json')]],
  ['lint', ['lint', entry]],
]) {
  const result = spawnSync(bicep, args, { cwd: root, encoding: 'utf8' });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (result.status !== 0 || /\b(warning|error)\b/i.test(output)) {
    console.error(`infra: bicep ${label} failed (exit ${result.status}):\n${output || result.error?.message}`);
    failed = true;
  } else console.log(`infra: bicep ${label} passed`);
}
process.exit(failed ? 1 : 0);
