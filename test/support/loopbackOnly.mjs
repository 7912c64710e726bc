// Loaded with `--import` into child processes whose telemetry a test captures: every TCP or TLS connection
// to anything but the loopback is refused and written to LOOPBACK_GUARD_LOG, so a test can prove the process
// reached nothing outside this machine (no IMDS probe, no SDK settings service, no real ingestion endpoint).
import { appendFileSync } from 'node:fs';
import net from 'node:net';

const logFile = process.env.LOOPBACK_GUARD_LOG;
const loopback = (host) => host === undefined || host === null || host === '' || host === 'localhost' || /^127\./.test(host) || host === '::1' || host === '[::1]';
const connect = net.Socket.prototype.connect;

net.Socket.prototype.connect = function guardedConnect(...args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const options = typeof first === 'object' && first !== null ? first : { port: first, host: typeof args[1] === 'string' ? args[1] : undefined };
  const tcp = options.port !== undefined && options.port !== null;
  if (tcp && !loopback(options.host)) {
    const target = `${options.host}:${options.port}`;
    if (logFile) appendFileSync(logFile, `${target}\n`);
    process.nextTick(() => this.destroy(new Error(`loopbackOnly: refused a connection to ${target}`)));
    return this;
  }
  return connect.apply(this, args);
};
