import { constants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { kindOf } from '../cliFiles.js';
import { formatReportText, type PassReport } from '../report.js';
import { passOutcome, renderHtmlReport } from './report.js';

/**
 * `--output html [FILE]`: the only form that takes an argument after it. Answers the file (or undefined for
 * stdout), or the problem with the arguments.
 */
export function htmlOutputFile(output: string, positionals: string[]): { file?: string; problem?: string } {
  if (output === 'html' && positionals.length <= 1) return { file: positionals[0] };
  if (positionals.length > 0) return { problem: `unexpected argument ${JSON.stringify(positionals[output === 'html' ? 1 : 0])}${output === 'html' ? '' : ' (only --output html takes a file)'}` };
  return {};
}

/** Checked before the pass, so that a bad path stops the CLI before anything is deleted. */
export async function htmlFileProblem(file: string): Promise<string | undefined> {
  const path = resolve(file);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) return `the HTML report file ${file} is a directory`;
  // Opening a FIFO or a device would block after the pass, where no signal ends the process.
  if (existing !== undefined && !existing.isFile()) return `the HTML report file ${file} is not a regular file (${kindOf(existing)})`;
  try {
    await access(existing ? path : dirname(path), constants.W_OK);
    return undefined;
  } catch {
    return `cannot write the HTML report to ${file} (${existing ? 'the file is not writable' : 'no writable folder ' + dirname(path)})`;
  }
}

/** The report as a self-contained HTML page: to FILE (and the text summary to stdout), or to stdout. */
export async function writeHtmlOutput(
  report: PassReport,
  file: string | undefined,
  io: { stdout: (text: string) => void; stderr: (text: string) => void; redact: (text: string) => string },
): Promise<void> {
  const html = io.redact(renderHtmlReport({ audit: { ...report, ...passOutcome(report) } }));
  if (file === undefined) {
    io.stdout(html);
    return;
  }
  await writeFile(file, html);
  io.stdout(`${formatReportText(report)}\n`);
  io.stderr(`wrote the HTML report to ${file}\n`);
}
