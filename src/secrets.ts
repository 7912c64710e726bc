/**
 * Settings that hold secrets (a storage connection string with its key, a SAS, a key or token pasted into the wrong
 * setting) are named, never printed: every face (CLI output, Functions logs, HTTP bodies, audit reports) passes its
 * text through a {@link Redactor} made from the settings.
 */

/** `Key=value` fields of connection strings, SAS and other URL query parameters whose values are secrets. */
const SECRET_FIELD = /\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Passwd|Pwd|ClientSecret|client_secret|sig|access_token|refresh_token|id_token|api_key|apikey)=([^;&\s"'\\]+)/gi;
/** The password of a URL's user information: `scheme://user:password@host`. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:"'\\]*):([^\s?#@"'\\]+)@/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
const BASE64_KEY = /^[A-Za-z0-9+/]{40,}={0,2}$/;

/** Whether a setting's value looks like a connection string with a key, a key, a SAS or a token. */
export function looksSecret(value: string): boolean {
  const text = value.trim();
  return new RegExp(SECRET_FIELD.source, 'i').test(text) || new RegExp(URL_PASSWORD.source, 'i').test(text) || JWT.test(text) || BASE64_KEY.test(text) || /(^|[?&])sv=\d{4}-\d{2}-\d{2}&/.test(text);
}

/** A setting's value for a message: quoted, or — when it looks secret — only named. */
export function describeValue(name: string, value: string): string {
  return looksSecret(value) ? `the value of ${name} (not shown: it looks like a connection string, key or SAS)` : JSON.stringify(value);
}

const HTML_ENTITIES: Record<string, string> = { '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' };

export class Redactor {
  /** Secret texts (whole values and their secret fields), longest first, with the setting each came from. */
  private readonly secrets: { text: string; name: string }[] = [];

  constructor(settings: Record<string, string | undefined>) {
    for (const [name, value] of Object.entries(settings)) {
      if (value === undefined || !looksSecret(value)) continue;
      this.add(value.trim(), name);
      for (const pattern of [SECRET_FIELD, URL_PASSWORD]) {
        for (const match of value.matchAll(new RegExp(pattern.source, 'gi'))) if (match[2]!.length >= 8) this.add(match[2]!, name);
      }
    }
    this.secrets.sort((a, b) => b.text.length - a.text.length);
  }

  /** The text with every secret setting's value replaced by its name, and any other secret field blanked. */
  redact(text: string): string {
    let result = text;
    for (const secret of this.secrets) result = result.split(secret.text).join(`[${secret.name}: not shown]`);
    return result.replace(SECRET_FIELD, (_, key: string) => `${key}=[not shown]`).replace(URL_PASSWORD, (_, before: string) => `${before}:[not shown]@`);
  }

  private add(text: string, name: string): void {
    this.secrets.push({ text, name });
    const escaped = JSON.stringify(text).slice(1, -1);
    if (escaped !== text) this.secrets.push({ text: escaped, name });
    // As an HTML report writes it.
    const html = text.replace(/[&<>"']/g, (character) => `&${HTML_ENTITIES[character]};`);
    if (html !== text) this.secrets.push({ text: html, name });
  }
}
