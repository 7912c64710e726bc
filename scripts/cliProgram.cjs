#!/usr/bin/env node
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS program: Node starts it without its ES module loader */
// The acr-cache-cleaner command, as scripts/bundle.mjs installs it (dist/cli/acr-cache-cleaner.js). Its code is the
// bundle main.cjs, compiled with main.cjs.cache: V8's code cache, which the build records from a run on examples/,
// so that a start deserializes compiled code instead of parsing and compiling 600 KB of JavaScript.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire, SourceMap } = require('node:module');
const { join, resolve } = require('node:path');
const { Script } = require('node:vm');
const { crc32 } = require('node:zlib'); // Node 20.15 and later; without it, no code cache.

const program = join(__dirname, 'main.cjs');
const codeCacheFile = `${program}.cache`;

/** The bundle as a script, compiled with its code cache when there is a sound one. */
function compile() {
  const bytes = readFileSync(program);
  // ASCII only (the build checks): Latin-1 decodes it as UTF-8 would, and quicker.
  const source = bytes.toString('latin1');
  // The wrapper's first line is not the bundle's: lineOffset keeps the bundle's lines as numbered in main.cjs.
  return new Script(`(function (exports, require, module) {\n${source}\n})`, { filename: program, lineOffset: -1, cachedData: codeCacheFor(bytes) });
}

/** Runs the compiled bundle as the CommonJS module it is (it requires Node's modules and the unbundled packages). */
function run(script) {
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(program), module);
}

// The code cache file: a CRC-32 of the bundle it was made from (its path, then its bytes), one of the V8 data that
// follow, then the data. V8 refuses a cache of another Node version or other V8 flags, but checks no more of the source
// than its length (a bundle edited to the same length would run the old code), nothing of the data (damaged data
// crash the process), and keeps the path the cache was made at (a moved bundle's stack traces would name the old one).
const HEADER_BYTES = 8;
const bundleCrc = (bytes) => crc32(bytes, crc32(program));

/** The code cache for the bundle `bytes`, or undefined: none, made for other bytes or another place, or damaged. */
function codeCacheFor(bytes) {
  let file;
  try {
    file = readFileSync(codeCacheFile);
  } catch {
    return undefined;
  }
  if (crc32 === undefined || file.length <= HEADER_BYTES) return undefined;
  const data = file.subarray(HEADER_BYTES);
  return file.readUInt32BE(0) === bundleCrc(bytes) && file.readUInt32BE(4) === crc32(data) ? data : undefined;
}

/** Writes what V8 has compiled of `script` so far as the code cache (the build, after a run). */
function writeCodeCache(script) {
  if (crc32 === undefined) return;
  const data = script.createCachedData();
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(bundleCrc(readFileSync(program)), 0);
  header.writeUInt32BE(crc32(data), 4);
  writeFileSync(codeCacheFile, Buffer.concat([header, data]));
}

// Stack traces name the TypeScript sources: a frame in the bundle is mapped through main.cjs.map, which is read the
// first time a stack trace is formatted (a run that formats none never reads it).
let sourceMap;
Error.prepareStackTrace = (error, callSites) => {
  let header;
  try {
    header = Error.prototype.toString.call(error);
  } catch {
    header = '<error>';
  }
  return header + callSites.map((site) => `\n    at ${frame(site)}`).join('');
};

function frame(site) {
  const text = String(site);
  if (site.getFileName() !== program) return text;
  const line = site.getLineNumber();
  const column = site.getColumnNumber();
  sourceMap ??= readSourceMap();
  const entry = sourceMap === null ? undefined : sourceMap.findEntry(line - 1, column - 1);
  if (entry?.originalSource === undefined) return text;
  return text.replace(`${program}:${line}:${column}`, `${entry.originalSource}:${entry.originalLine + 1}:${entry.originalColumn + 1}`);
}

function readSourceMap() {
  try {
    const payload = JSON.parse(readFileSync(`${program}.map`, 'utf8'));
    payload.sources = payload.sources.map((source) => resolve(__dirname, source));
    return new SourceMap(payload);
  } catch {
    return null;
  }
}

// Run as the command; required (by the build, to record the code cache), the parts.
if (require.main === module) run(compile());
else module.exports = { compile, run, writeCodeCache, program };
