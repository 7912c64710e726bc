// Records every module a process resolves into the file named by IMPORT_RECORD (for the start-up test):
// `node --import ./test/support/importRecorder.mjs …`.
import { register } from 'node:module';

register('./importRecorderHooks.mjs', import.meta.url, { data: { file: process.env.IMPORT_RECORD } });
