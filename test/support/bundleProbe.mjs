// For the start-up test, in a run of the bundled command (`node --import ./test/support/bundleProbe.mjs …`): when the
// process exits, writes to BUNDLE_PROBE_OUT, as JSON, the files it required (`required`: the Azure SDKs are required
// from node_modules, not bundled), Node's own modules it loaded (`builtins`) and the stack trace of an error made at its first write to stdout (`stack`: its
// frames in the bundle, as the command formats them).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

let stack = null;
const write = process.stdout.write;
process.stdout.write = function (...args) {
  stack ??= new Error('probe').stack;
  return write.apply(this, args);
};

process.on('exit', () => {
  const required = Object.keys(createRequire(import.meta.url).cache);
  const builtins = process.moduleLoadList.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => entry.slice('NativeModule '.length));
  writeFileSync(process.env.BUNDLE_PROBE_OUT, JSON.stringify({ required, builtins, stack }));
});
