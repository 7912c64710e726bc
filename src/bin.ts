#!/usr/bin/env node
import { EXIT, main, SignalReceived } from './cli.js';

// The first SIGINT or SIGTERM stops starting deletions and lets the ones in flight finish (each within its
// request timeout), then the report is printed; a second one quits at once (every DELETE sent is journaled).
const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stop.signal.aborted) process.exit(EXIT[signal]);
    process.stderr.write(`acr-cache-cleaner: ${signal}: no new deletions; waiting for the ones in flight (${signal} again to quit at once)\n`);
    stop.abort(new SignalReceived(signal));
  });
}

process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stop: stop.signal,
});
