// Builds the deployment package: exactly what goes to Azure, and nothing that needs a build at install time.
//   .package/app/                    compiled dist/ (without the CLI's bundle, dist/cli/), host.json, package.json,
//                                    package-lock.json and the production node_modules (npm ci --omit=dev), ready
//                                    to run as it is
//   .package/acr-cache-cleaner.zip   the same folder as a zip, for `az functionapp deployment source config-zip`
// azd deploys .package/app (azure.yaml: dist, remoteBuild: false, a prepackage hook that runs this script).
// Usage: npm run package [-- --out DIR]
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { zipSync } from 'fflate';
import { CLI_DIR } from './bundle.mjs';

const root = join(import.meta.dirname, '..');
/** What the package holds besides node_modules; everything else in the repository stays home. */
export const PACKAGE_FILES = ['dist', 'host.json', 'package.json', 'package-lock.json'];
/** A fixed timestamp for every zip entry, so the same inputs give the same bytes. */
const ZIP_MTIME = new Date('2026-01-01T00:00:00Z');

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.error?.message})`);
}

function filesUnder(directory) {
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function build() {
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], root);
  // The CLI's bundle (dist/cli/, `npm run build` makes it too) so the command still runs after packaging; the app
  // does not use it and the package leaves it out.
  run(process.execPath, [join(root, 'scripts', 'bundle.mjs')], root);
}

function stage(app) {
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true, filter: (source) => source !== CLI_DIR });
  for (const file of PACKAGE_FILES.filter((name) => name !== 'dist')) copyFileSync(join(root, file), join(app, file));
  // Production dependencies only, exactly as locked; no install scripts and no .bin links (nothing runs them).
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-bin-links', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], app);
}

function zip(app, zipFile) {
  const entries = {};
  let bytes = 0;
  const files = filesUnder(app);
  for (const file of files) {
    const data = readFileSync(file);
    bytes += data.length;
    entries[relative(app, file).split(sep).join('/')] = [data, { mtime: ZIP_MTIME }];
  }
  writeFileSync(zipFile, zipSync(entries, { level: 6 }));
  return { files: files.length, bytes, zipBytes: statSync(zipFile).size };
}

const { values } = parseArgs({ options: { out: { type: 'string', default: join(root, '.package') } } });
const app = join(values.out, 'app');
const zipFile = join(values.out, 'acr-cache-cleaner.zip');
build();
stage(app);
const size = zip(app, zipFile);
const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
console.log(`package: ${zipFile}: ${size.files} files, ${mib(size.bytes)} unpacked, ${mib(size.zipBytes)} zipped (staged in ${app})`);
