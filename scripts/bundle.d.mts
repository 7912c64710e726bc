// Types of scripts/bundle.mjs, for the tests that build the bundle.
import type { Metafile } from 'esbuild';

export const CLI_DIR: string;
export const CLI_PROGRAM: string;
export const CLI_BUNDLE: string;
export const UNBUNDLED: string[];
export function bundleCli(outdir?: string): Promise<Metafile>;
