/**
 * Bytes that JSON text never holds: control characters but tab, line feed and carriage return (inside strings they
 * are escaped), and bytes that UTF-8 never uses (C0, C1, F5–FF). Compressed or binary data has one every few bytes.
 */
export function isNeverInJsonText(c: number): boolean {
  return (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xc0 || c === 0xc1 || c >= 0xf5;
}

/** The index of the first byte of `bytes[start, end)` that JSON text never holds, or -1. */
export function firstNonTextByte(bytes: Buffer, start: number, end: number): number {
  for (let i = start; i < end; i++) if (isNeverInJsonText(bytes[i]!)) return i;
  return -1;
}

/** Signatures of what a log file may have been turned into that the reader does not decode. */
export const SIGNATURES: readonly { bytes: readonly number[]; what: string }[] = [
  { bytes: [0x1f, 0x8b], what: 'gzip-compressed' },
  { bytes: [0x42, 0x5a, 0x68], what: 'bzip2-compressed' },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'xz-compressed' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], what: 'zstd-compressed' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: 'a zip archive' },
  { bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: 'a 7-zip archive' },
  { bytes: [0x04, 0x22, 0x4d, 0x18], what: 'lz4-compressed' },
  { bytes: [0xff, 0xfe], what: 'UTF-16 text' },
  { bytes: [0xfe, 0xff], what: 'UTF-16 text' },
];

/** A bzip2 stream's header and its first block's magic (`BZh9` then `1AY&SY`): all text, but never in a log record. */
const BZIP2_BLOCK = Buffer.from('1AY&SY');

function holdsBzip2Header(text: Buffer): boolean {
  for (let block = text.indexOf(BZIP2_BLOCK, 4); block !== -1; block = text.indexOf(BZIP2_BLOCK, block + 1)) {
    const level = text[block - 1]!;
    if (text[block - 4] === 0x42 && text[block - 3] === 0x5a && text[block - 2] === 0x68 && level >= 0x31 && level <= 0x39) return true;
  }
  return false;
}

/**
 * Why a line (a record that could not be read) shows that the file holds data other than JSON text, or undefined
 * when it is text: malformed text is one unusable record, compressed or binary data may hide any number of them.
 */
export function notTextReason(bytes: Buffer, start: number, end: number, line: number): string | undefined {
  const at = firstNonTextByte(bytes, start, end);
  const text = bytes.subarray(start, end);
  if (at === -1) return holdsBzip2Header(text) ? compressedReason('bzip2-compressed', line) : undefined;
  const signature = SIGNATURES.find((candidate) => candidate.bytes.some(isNeverInJsonText) && text.indexOf(Buffer.from(candidate.bytes)) !== -1);
  return signature === undefined ? nonTextByteReason(bytes[at]!, line) : compressedReason(signature.what, line);
}

function compressedReason(what: string, line: number): string {
  return `${what} data on line ${line}, after text: the reader reads JSON text, plain or gzip-compressed as a whole file`;
}

export function nonTextByteReason(byte: number, line: number): string {
  return `not text: byte 0x${byte.toString(16).padStart(2, '0')} on line ${line}, which JSON text never holds (compressed in a format the reader does not read, or binary)`;
}
