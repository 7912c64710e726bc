import { describe, expect, it } from 'vitest';
import { esc } from '../src/html/escape.js';
import { describeValue, looksSecret, Redactor } from '../src/secrets.js';

const KEY = 'c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs=';
const CONNECTION_STRING = `DefaultEndpointsProtocol=https;AccountName=cilogs;AccountKey=${KEY};EndpointSuffix=core.windows.net`;
const SAS_URL = 'https://cilogs.blob.core.windows.net/logs?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2026-12-01T00:00:00Z&sig=AbCdEf0123456789%2BxyzABCDEF%3D';

describe('looksSecret', () => {
  it.each([CONNECTION_STRING, SAS_URL, 'sv=2022-11-02&ss=b&sig=abc', KEY, 'Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=abcdefgh', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eXp6eSJ9.c2lnbmF0dXJlLXBhcnQ'])('%s is a secret', (value) => {
    expect(looksSecret(value)).toBe(true);
  });

  it.each(['cicache', 'cicache.azurecr.io', 'https://127.0.0.1:8443', 'UseDevelopmentStorage=true', 'cilogs', '00000000-0000-0000-0000-000000000001', '^release-', '0 30 2 * * *'])('%s is not', (value) => {
    expect(looksSecret(value)).toBe(false);
  });
});

const PASSWORD = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdEfGhIjKl';

describe('secrets inside URLs', () => {
  it.each([
    `https://admin:${PASSWORD}@cicache.azurecr.io/v2/`,
    `https://cicache.azurecr.io/?access_token=${PASSWORD}`,
    'https://cilogs.blob.core.windows.net/logs?sv=2022-11-02&sp=rl&sig=short',
    'https://example.test/x?password=hunter2',
  ])('%s is a secret', (value) => {
    expect(looksSecret(value)).toBe(true);
  });

  it('blanks the password of a URL and secret query parameters wherever they appear', () => {
    const redactor = new Redactor({});
    expect(redactor.redact(`GET https://admin:${PASSWORD}@cicache.azurecr.io/v2/ failed`)).toBe('GET https://admin:[not shown]@cicache.azurecr.io/v2/ failed');
    expect(redactor.redact(`see https://x.test/a?b=1&access_token=${PASSWORD}&c=2`)).toBe('see https://x.test/a?b=1&access_token=[not shown]&c=2');
    expect(redactor.redact('https://x.test/?password=hunter2; refresh_token=abc.def and client_secret=s3cr3t')).toBe(
      'https://x.test/?password=[not shown]; refresh_token=[not shown] and client_secret=[not shown]',
    );
    expect(redactor.redact('https://cicache.azurecr.io/v2/ and user@example.com stay')).toBe('https://cicache.azurecr.io/v2/ and user@example.com stay');
  });

  it('names the setting whose URL carries a password, and hides the password when it is quoted alone', () => {
    const redactor = new Redactor({ CONTAINER_REGISTRY: `https://admin:${PASSWORD}@cicache.azurecr.io/v2/` });
    expect(redactor.redact(`bad: https://admin:${PASSWORD}@cicache.azurecr.io/v2/`)).toBe('bad: [CONTAINER_REGISTRY: not shown]');
    expect(redactor.redact(`refused ${PASSWORD}`)).toBe('refused [CONTAINER_REGISTRY: not shown]');
    expect(describeValue('CONTAINER_REGISTRY', `https://admin:${PASSWORD}@cicache.azurecr.io/v2/`)).toContain('not shown');
  });
});

describe('Redactor', () => {
  const redactor = new Redactor({ CONTAINER_REGISTRY: CONNECTION_STRING, LOG_STORAGE_ACCOUNT: 'cilogs', AzureWebJobsStorage: 'UseDevelopmentStorage=true' });

  it('names the setting instead of printing its value, whole or in part', () => {
    expect(redactor.redact(`bad registry: ${CONNECTION_STRING}`)).toBe('bad registry: [CONTAINER_REGISTRY: not shown]');
    expect(redactor.redact(`the key ${KEY} was refused`)).toBe('the key [CONTAINER_REGISTRY: not shown] was refused');
    expect(redactor.redact(JSON.stringify({ error: `x ${CONNECTION_STRING}` }))).toBe('{"error":"x [CONTAINER_REGISTRY: not shown]"}');
  });

  it('blanks secret fields from anywhere else (an SDK error quoting a SAS URL)', () => {
    const text = redactor.redact(`GET ${SAS_URL} failed; AccountKey=zzz;`);
    expect(text).not.toContain('AbCdEf');
    expect(text).toContain('sig=[not shown]');
    expect(text).toContain('AccountKey=[not shown];');
  });

  it('names a secret setting as an HTML report writes it too (escaped)', () => {
    const html = new Redactor({ LOG_STORAGE_ACCOUNT: SAS_URL }).redact(`<td>${esc(`cannot read ${SAS_URL}`)}</td>`);
    expect(html).toBe('<td>cannot read [LOG_STORAGE_ACCOUNT: not shown]</td>');
  });

  it('leaves other settings and text alone', () => {
    expect(redactor.redact('reading cilogs with UseDevelopmentStorage=true')).toBe('reading cilogs with UseDevelopmentStorage=true');
  });

  it('describes a value for a message: quoted, or only named when secret', () => {
    expect(describeValue('CONTAINER_REGISTRY', 'ci cache')).toBe('"ci cache"');
    expect(describeValue('CONTAINER_REGISTRY', CONNECTION_STRING)).toBe('the value of CONTAINER_REGISTRY (not shown: it looks like a connection string, key or SAS)');
  });
});
