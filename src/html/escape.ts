/** Escapes text for HTML and SVG, in element content and in quoted attribute values alike. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (character) => ENTITIES[character]!);
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** 1234567 → "1,234,567", the same on every machine. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}
