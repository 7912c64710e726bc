import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's `chromium` package (apt-get install chromium; .ci/run installs it in CI). Never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';
export const chromiumInstalled = existsSync(CHROMIUM);
if (!chromiumInstalled && process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: in CI, .ci/run installs Debian's chromium and the browser tests must run`);
if (!chromiumInstalled) console.warn(`${CHROMIUM} is not installed (Debian package chromium): the browser tests are skipped`);

/** A headless Chromium with a fresh profile that talks to nothing on its own; closed (and its profile removed) after `use`. */
export async function withChromium<T>(use: (context: BrowserContext) => Promise<T>): Promise<T> {
  const profile = await mkdtemp(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 900 },
  });
  try {
    return await use(context);
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}
