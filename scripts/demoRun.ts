/** The demo's run: calls the timer function's handler with the host's objects, app settings in the environment. */
import { randomUUID } from 'node:crypto';
import functions from '@azure/functions';
import { cleanImageCacheHandler } from '../src/functions/handlers.js';

// @azure/functions is CommonJS: under plain Node ESM, InvocationContext is on the default export only.
const context = new functions.InvocationContext({
  invocationId: randomUUID(),
  functionName: 'cleanImageCache',
  logHandler: (level, ...args) => console.log(`[${level}] ${args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ')}`),
});
const now = new Date().toISOString();
try {
  await cleanImageCacheHandler({ isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: now, next: now, lastUpdated: now } }, context);
  console.log('\nthe invocation succeeded');
} catch (error) {
  console.log(`\nthe invocation failed (as the host would show it): ${(error as Error).message}`);
}
