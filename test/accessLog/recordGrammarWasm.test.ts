import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileRecordGrammar, generatedModule, GENERATED } from '../../scripts/build-wasm.mjs';

describe('the WebAssembly record scanner', () => {
  it('is what its AssemblyScript source compiles to (npm run build:wasm after editing src/accessLog/wasm/)', async () => {
    expect(readFileSync(GENERATED, 'utf8')).toBe(generatedModule(await compileRecordGrammar()));
  }, 60_000);
});
