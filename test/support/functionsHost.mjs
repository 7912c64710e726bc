// A stand-in for the Azure Functions Node.js worker, run with plain node inside an unpacked deployment package.
// Like the real worker it answers `require('@azure/functions-core')` itself (the module exists only inside the
// worker), loads the app's entry point (package.json `main`), records what `@azure/functions` registers, and
// can invoke one function through the programming model the app installed, as the host would. It imports node
// built-ins only, so the package must bring everything else it needs.
// Usage: node functionsHost.mjs APP_DIR [--invoke FUNCTION_NAME --input JSON]
// Prints one JSON line per event: {"registered": …}, {"log": …}, {"result": …}.
import { readFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { invoke: { type: 'string' }, input: { type: 'string' } } });
const appDir = positionals[0];
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const registrations = new Map();
let programmingModel;
const coreApi = {
  version: '3.10.1-stand-in',
  hostVersion: '4.1000.0-stand-in',
  setProgrammingModel: (model) => (programmingModel = model),
  getProgrammingModel: () => programmingModel,
  registerFunction: (metadata, callback) => {
    registrations.set(metadata.name, { metadata, callback });
    return { dispose: () => registrations.delete(metadata.name) };
  },
  registerHook: () => ({ dispose: () => {} }),
  log: (level, category, message) => emit({ log: { level, category, message } }),
  Disposable: class {
    constructor(callOnDispose) {
      this.dispose = callOnDispose;
    }
  },
};
const originalRequire = Module.prototype.require;
Module.prototype.require = function (id, ...rest) {
  return id === '@azure/functions-core' ? coreApi : originalRequire.call(this, id, ...rest);
};

process.chdir(appDir);
const { main } = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8'));
await import(pathToFileURL(join(appDir, main)).href);
for (const { metadata } of registrations.values()) emit({ registered: metadata });

if (values.invoke !== undefined) {
  const registration = registrations.get(values.invoke);
  if (registration === undefined) throw new Error(`no function named ${values.invoke} was registered`);
  const { metadata, callback } = registration;
  const [triggerName] = Object.entries(metadata.bindings).find(([, binding]) => /trigger$/i.test(binding.type));
  const coreContext = {
    invocationId: `stand-in-${Date.now()}`,
    metadata,
    request: { inputData: [{ name: triggerName, data: { json: values.input ?? '{}' } }], triggerMetadata: {} },
    state: 'invocation',
    log: (level, category, message) => emit({ log: { level, category, message } }),
  };
  const invocation = programmingModel.getInvocationModel(coreContext);
  const { context, inputs } = await invocation.getArguments();
  try {
    const returned = await invocation.invokeFunction(context, inputs, callback);
    await invocation.getResponse(context, returned);
    emit({ result: { ok: true, invocationId: coreContext.invocationId } });
  } catch (error) {
    emit({ result: { ok: false, invocationId: coreContext.invocationId, error: String(error?.message ?? error) } });
  }
}
