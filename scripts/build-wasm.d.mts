// Types of scripts/build-wasm.mjs for the tests that import it.
export declare const SOURCE: string;
export declare const GENERATED: string;
export declare function compileRecordGrammar(): Promise<Buffer>;
export declare function generatedModule(binary: Buffer): string;
