#!/usr/bin/env node
import { EXIT, main, SignalReceived } from './cli.js';
import { runStopController } from './registry/budget.js';

// The first SIGINT or SIGTERM stops starting deletions and lets the ones in flight finish (each within its
// request timeout), then the report is printed; a second one quits at once (every DELETE sent is journaled).
const stop = runStopController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stop.signal.aborted) process.exit(EXIT[signal]);
    write(process.stderr, `acr-cache-cleaner: ${signal}: no new deletions; waiting for the ones in flight (${signal} again to quit at once)\n`);
    stop.abort(new SignalReceived(signal));
  });
}

// A reader that goes away (`| head -3`) makes the next write fail with EPIPE. Unhandled, that error would end the
// process between a DELETE and its journaled outcome; instead that stream is given up and the run goes on.
const closed = new Set<NodeJS.WriteStream>();
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => closed.add(stream));

function write(stream: NodeJS.WriteStream, text: string): void {
  if (!closed.has(stream) && !stream.destroyed) stream.write(text);
}

// No top-level await: the command runs this file bundled as CommonJS (scripts/bundle.mjs), which has none.
void main(process.argv.slice(2), {
  stdout: (text) => write(process.stdout, text),
  stderr: (text) => write(process.stderr, text),
  stop: stop.signal,
  // eslint-disable-next-line no-restricted-properties -- the entry point hands the CLI the only variables it reads
  env: { XDG_STATE_HOME: process.env.XDG_STATE_HOME, HOME: process.env.HOME },
}).then((code) => {
  // A request given up at its timeout (a token call that never answers) may still hold a socket open, which would
  // keep the process alive after its report; the report is written (stdout and stderr to files and pipes are
  // synchronous).
  process.exit(code);
});
