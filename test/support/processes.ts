import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

export interface EmulatorProcess {
  endpoint: string;
  caFile: string;
  stop(): Promise<void>;
}

/** The ACR emulator in its own process, so that a benchmark's memory is the cleaner's alone. */
export async function startEmulatorProcess(args: string[]): Promise<EmulatorProcess> {
  const child = spawn(tsx, [join(root, 'test', 'emulators', 'acr', 'standalone.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  const ready = await new Promise<{ endpoint: string; caFile: string }>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const endpoint = /at (https:\/\/\S+)/.exec(output)?.[1];
      const caFile = /CA certificate: (\S+)/.exec(output)?.[1];
      if (endpoint && caFile) resolve({ endpoint, caFile });
    });
    child.once('exit', (code) => reject(new Error(`the emulator exited with ${code}: ${output}`)));
  });
  return { ...ready, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Runs a benchmark phase in a child process that trusts the emulator's CA (NODE_EXTRA_CA_CERTS is read at start-up). */
export function runMeasured(script: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [script], { stdio: 'inherit', env: { ...process.env, ...env } });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited with ${code}`))));
  });
}

/** Samples the process's RSS; `peak()` is the highest seen. */
export function rssSampler(intervalMs = 50) {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), intervalMs);
  timer.unref();
  return {
    peak: () => Math.max(peak, process.memoryUsage().rss),
    stop: () => clearInterval(timer),
  };
}
