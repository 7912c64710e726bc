/** `npm run demo`: one offline pass over the shipped example (a CI cache registry and its archived logs). */
import { main } from '../src/cli.js';

const code = await main(['--log-dir', 'examples/logs', '--inventory', 'examples/inventory.json', '--now', '2026-11-27T02:30:00Z'], {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
process.exitCode = code;
