#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, flagOf, loadConfig, SETTINGS, type SettingName, type Settings } from './config.js';
import { htmlFileProblem, htmlOutputFile, writeHtmlOutput } from './html/cliOutput.js';
import { InventoryFileError } from './inventory.js';
import { errorMessage, runPass } from './pass.js';
import { formatReportText, TOOL_VERSION, type PassReport } from './report.js';
import { createPassDependencies } from './wiring.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, refused: 3 } as const;

const BOOLEAN_SETTINGS = new Set<SettingName>(['DRY_RUN']);
const CLI_ONLY_SETTINGS = new Set<SettingName>(['CLEANUP_SCHEDULE', 'AZURE_CLIENT_ID']);
const settingByFlag = new Map<string, SettingName>(
  (Object.keys(SETTINGS) as SettingName[]).filter((name) => !CLI_ONLY_SETTINGS.has(name)).map((name) => [flagOf(name).slice(2), name]),
);

const USAGE = `usage: acr-cache-cleaner [flags]

Deletes the manifests of an Azure Container Registry that its access logs show were pulled or pushed
fewer than --cache-min-access-count times in the last --cache-history-days days.

${[...settingByFlag]
  .map(([flag, name]) => `  --${flag}${BOOLEAN_SETTINGS.has(name) ? '' : ' VALUE'}\n      ${SETTINGS[name].meaning}${SETTINGS[name].default ? ` (default: ${SETTINGS[name].default})` : ''}`)
  .join('\n')}
  --now ISO-TIME
      Plan as if it were this time (default: now).
  --export-inventory FILE
      Write the listed registry inventory to FILE (the --inventory format).
  --output text|json|html [FILE]
      text: a readable summary (default); json: one JSON document on stdout; html: a self-contained
      HTML report, to FILE (the summary then goes to stdout) or to stdout.
  --help, --version

Exit codes: 0 pass completed (dry run or not), 1 failure, 2 bad usage, 3 refused by a safety guard.
`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs the CLI on `argv` (without node and script) and returns its exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    now: { type: 'string' },
    output: { type: 'string' },
    'export-inventory': { type: 'string' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
  };
  for (const [flag, name] of settingByFlag) options[flag] = { type: BOOLEAN_SETTINGS.has(name) ? 'boolean' : 'string' };

  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true }));
  } catch (error) {
    io.stderr(`acr-cache-cleaner: ${errorMessage(error)}\nRun with --help for the flags.\n`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout(USAGE);
    return EXIT.ok;
  }
  if (values.version) {
    io.stdout(`${TOOL_VERSION}\n`);
    return EXIT.ok;
  }
  const output = (values.output as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json' && output !== 'html') {
    io.stderr(`acr-cache-cleaner: --output must be text, json or html, not ${JSON.stringify(output)}\n`);
    return EXIT.usage;
  }
  const html = htmlOutputFile(output, positionals);
  if (html.problem === undefined && html.file !== undefined) html.problem = await htmlFileProblem(html.file);
  if (html.problem !== undefined) {
    io.stderr(`acr-cache-cleaner: ${html.problem}\nRun with --help for the flags.\n`);
    return EXIT.usage;
  }
  let now = new Date();
  if (values.now !== undefined) {
    now = new Date(values.now as string);
    if (Number.isNaN(now.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(values.now as string)) {
      io.stderr(`acr-cache-cleaner: --now must be an ISO 8601 time such as 2025-01-30T02:00:00Z, not ${JSON.stringify(values.now)}\n`);
      return EXIT.usage;
    }
  }

  const settings: Settings = {};
  for (const [flag, name] of settingByFlag) {
    const value = values[flag];
    if (value !== undefined) settings[name] = String(value);
  }

  let report: PassReport;
  try {
    const config = loadConfig(settings);
    const deps = createPassDependencies(config, {
      clock: () => now,
      log: (message) => io.stderr(`${message}\n`),
      exportInventory: values['export-inventory'] as string | undefined,
    });
    report = await runPass(config, deps);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`acr-cache-cleaner: ${error.describe(flagOf)}\n`);
      return EXIT.usage;
    }
    if (error instanceof InventoryFileError) {
      io.stderr(`acr-cache-cleaner: ${error.message}\n`);
      return EXIT.usage;
    }
    io.stderr(`acr-cache-cleaner: ${errorMessage(error)}\n`);
    return EXIT.failure;
  }

  if (output === 'json') io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else if (output === 'html') {
    try {
      await writeHtmlOutput(report, html.file, io);
    } catch (error) {
      io.stderr(`acr-cache-cleaner: writing the HTML report failed: ${errorMessage(error)}\n`);
      return EXIT.failure;
    }
  } else io.stdout(`${formatReportText(report)}\n`);
  return exitCodeOf(report);
}

export function exitCodeOf(report: PassReport): number {
  if (report.error !== null) return EXIT.failure;
  if (report.aborted !== null) return EXIT.refused;
  if (report.execution !== null && report.execution.failed.length > 0) return EXIT.failure;
  return EXIT.ok;
}
