/** Prints the README's app-settings table from src/config.ts, so the two cannot drift apart (test/readme.test.ts checks). */
import { APP_SETTINGS, SETTINGS } from '../src/config.js';

export function settingsTable(): string {
  const rows = APP_SETTINGS.map((name) => {
    const definition = SETTINGS[name];
    const fallback = definition.default === undefined ? '—' : `\`${definition.default}\``;
    return `| \`${name}\` | ${fallback} | ${definition.meaning} | ${definition.replaces ? `\`${definition.replaces}\`` : '—'} |`;
  });
  return ['| App setting | Default | Meaning | Original script flag |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

if (import.meta.filename === process.argv[1]) console.log(settingsTable());
