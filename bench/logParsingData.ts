/**
 * The log files of the log-parsing benchmark, in two record shapes:
 * - `compact`: `JSON.stringify` of the archive's record (the shape of this project's own tests and demo);
 * - `spaced`: as the archive writes records — keys followed by `": "`, members by `", "`, a nested `identity`
 *   object in some records, user agents with escaped characters (quotes, `\u00e9`).
 * Both ~1 KB per record, time-ordered as hourly blobs are, each digest in one repository.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { logRecord, prng, randomDigest } from '../test/support/syntheticCache.js';

export type RecordShape = 'compact' | 'spaced';
export const SHAPES: RecordShape[] = ['compact', 'spaced'];
export const BENCH_NOW = new Date('2026-11-27T02:00:00Z');
export const DAY_MS = 86_400_000;

const USER_AGENTS = [
  'docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.5.0-1025-azure os/linux arch/amd64 UpstreamClient(buildkit/v0.16.0)',
  'containerd/v1.7.23 "buildkit" (linux; amd64) café-runner/2.1',
  'Go-http-client/1.1 \\ azure-pipelines "agent" 3.248.0',
  'docker/26.1.4 go/go1.21.11 git-commit/de5c9cf kernel/5.15.0-1073-azure os/linux arch/amd64 UpstreamClient(Docker-Client/26.1.4 \\(linux\\))',
];

/** JSON as Python's `json.dumps` writes it by default: `": "` and `", "` separators, non-ASCII as `\uXXXX`. */
export function spacedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(spacedJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([key, member]) => `${asciiString(key)}: ${spacedJson(member)}`)
      .join(', ')}}`;
  }
  return typeof value === 'string' ? asciiString(value) : JSON.stringify(value);
}

function asciiString(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function logFilePath(shape: RecordShape, megabytes: number): string {
  return join(import.meta.dirname, '.data', `access-${shape}-${megabytes}mb.json`);
}

/** Writes the file unless it is there already (the same seed gives the same file). */
export async function ensureLogFile(shape: RecordShape, megabytes: number): Promise<string> {
  const path = logFilePath(shape, megabytes);
  const existing = await stat(path).catch(() => undefined);
  if (existing && existing.size >= megabytes * 1e6) return path;
  await mkdir(join(import.meta.dirname, '.data'), { recursive: true });
  const random = prng(megabytes);
  const manifests = Array.from({ length: 20_000 }, (_, index) => ({ repository: `ci/team-${index % 97}/component-${index % 13}`, digest: randomDigest(random) }));
  const linesWanted = Math.ceil((megabytes * 1e6) / 1000);
  const startMs = BENCH_NOW.getTime() - 7 * DAY_MS;
  const out = createWriteStream(path);
  let written = 0;
  let i = 0;
  while (written < megabytes * 1e6) {
    const lines: string[] = [];
    for (let k = 0; k < 1000; k++, i++) {
      const manifest = manifests[Math.floor(random() ** 2 * manifests.length)]!;
      const record = logRecord({
        time: new Date(startMs + Math.floor((i / linesWanted) * 7 * DAY_MS)),
        operationName: random() < 0.9 ? 'Pull' : 'Push',
        repository: manifest.repository,
        digest: manifest.digest,
        tag: random() < 0.5 ? 'buildcache' : undefined,
        resultDescription: random() < 0.03 ? '404' : undefined,
        registry: 'cicache',
      });
      if (shape === 'spaced') {
        if (random() < 0.3) record.identity = { claims: { oid: 'c2c7e9f4-1b7a-4a53-9f3e-8f2b2b0f7a11', appid: '04b07795-8ddb-461a-bbee-02f9e1bf7b46' } };
        (record.properties as Record<string, unknown>).userAgent = USER_AGENTS[Math.floor(random() * USER_AGENTS.length)];
        lines.push(spacedJson(record));
      } else {
        lines.push(JSON.stringify(record));
      }
    }
    const chunk = lines.join('\n') + '\n';
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
  return path;
}
