// For the start-up test: when the process exits, writes to SOURCE_MAP_PROBE_OUT the `sources` of the source map
// Node holds for the module SOURCE_MAP_PROBE (a file URL), or null when it holds none (source maps were off when
// that module loaded). `node --import ./test/support/sourceMapProbe.mjs …`.
import { writeFileSync } from 'node:fs';
import { findSourceMap } from 'node:module';

process.on('exit', () => {
  const map = findSourceMap(process.env.SOURCE_MAP_PROBE);
  writeFileSync(process.env.SOURCE_MAP_PROBE_OUT, JSON.stringify(map?.payload.sources ?? null));
});
