/**
 * The CLI's one output sanitizer (cli/io.ts `printable`): key material is withheld, and control and
 * escape characters never reach support's terminal.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { printable, printableValues, printableWriter, styleFor, WITHHELD } from '../../cli/io';
import { pemBody, runtimePrivateKeyPem } from '../fixtures/private-key';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const rsaPem = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

describe('Function: printable', () => {
  it('withholds a PEM private key, whole, JSON-escaped or cut short', () => {
    for (const pem of [runtimePrivateKeyPem(), rsaPem()]) {
      for (const text of [pem, `got ${JSON.stringify(pem)}`, pem.slice(0, 90)]) {
        const out = printable(text, { multiline: true });
        expect(out).toContain(WITHHELD);
        expect(out).not.toContain('BEGIN');
        expect(out).not.toContain(pemBody(pem).slice(0, 16));
      }
    }
  });

  it('withholds a bare base64 key body, a secret access key and a session token', () => {
    const der = rsaPem().split('\n').slice(1, -2).join('');
    expect(printable(der)).toBe(WITHHELD);
    expect(printable('key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here')).toBe(`key ${WITHHELD} here`);
    expect(printable('aws_session_token=IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD')).toBe(`aws_session_token=${WITHHELD}`);
    expect(printable('{"SecretAccessKey":"abc123"}')).toBe(`{"SecretAccessKey":"${WITHHELD}"}`);
  });

  it('keeps what support needs to read: paths, ARNs, presigned URLs with their URL-encoded token', () => {
    for (const text of [
      'firmware/releases/2026/november/build123',
      'arn:aws:iam::222222222222:role/PeridioBinaries',
      '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a-prod-12',
      'https://b.s3.eu-west-1.amazonaws.com/fw/a.bin?X-Amz-Credential=ASIAEXAMPLE%2F20261201%2Feu-west-1%2Fs3%2Faws4_request' +
        '&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2F%2FwEaCXVzLWVhc3QtMSJHMEUCIQDabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123' +
        '&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      // A CloudFront signature (`+ = /` written `- _ ~`) holding exactly 40 letters and digits between two of them.
      'http://127.0.0.1:35141/firmware/B.fw?Expires=1796223120&Key-Pair-Id=K19249A9881B5D' +
        '&Signature=TmTsQNagbHSUr8v37JBC~wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12-tXbxnVT0QLA~VQ3WRs6LY8fjdFWgztr-qr8yTbtD__',
    ]) {
      expect(printable(text)).toBe(text);
    }
  });

  it('strips ANSI CSI and OSC sequences, 8-bit C1 controls, bidi overrides and carriage returns', () => {
    const forged = 'arn:aws:iam::1:user/x\u001b]0;pwned\u0007\u001b[2J\u001b[1;1H\r\u001b[32mACTIVE\u001b[0m \u009b31mred \u202eevil\u2066';
    const out = printable(forged);
    expect(out).not.toMatch(UNSAFE);
    expect(out).not.toContain('\u001b');
    expect(out).toContain('arn:aws:iam::1:user/x');
    expect(out).not.toContain('pwned');
  });

  it('shows a line feed in a single-line value instead of starting a forged line', () => {
    expect(printable('support\nStatus: ACTIVE')).toBe('support\u23ceStatus: ACTIVE');
    expect(printable('a\nb', { multiline: true })).toBe('a\nb');
  });

  it('never lets a control or escape character through, for any text (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.boolean(), (text, multiline) => {
        const out = printable(text, { multiline });
        expect(out).not.toMatch(UNSAFE);
        if (!multiline) expect(out).not.toContain('\n');
      }),
      { numRuns: 500 },
    );
  });

  it('is idempotent (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(printable(printable(text))).toBe(printable(text));
      }),
      { numRuns: 300 },
    );
  });

  it('withholds a key wherever it sits in a string (property)', () => {
    const pem = runtimePrivateKeyPem();
    fc.assert(
      fc.property(fc.string(), fc.string(), (before, after) => {
        const out = printable(`${before}${pem}${after}`, { multiline: true });
        expect(out).not.toContain(pemBody(pem).slice(0, 16));
      }),
      { numRuns: 100 },
    );
  });

  it('keeps the CLI\'s own colours and line redraw in a whole chunk, and nothing else', () => {
    const style = styleFor({ env: {}, isTTY: true });
    const chunk = `\r\u001b[K${style.paint('green', 'ACTIVE')} \u001b[8mhidden\u001b]8;;http://evil\u0007link`;
    const out = printable(chunk, { multiline: true, keepOwnStyle: true });
    expect(out).toBe(`\r\u001b[K${style.paint('green', 'ACTIVE')} hiddenlink`);
  });
});

describe('Function: printableValues and printableWriter', () => {
  it('cleans every string of a result, keys included, into prototype-free copies', () => {
    const out = printableValues({ requestedBy: 'x\u001b[2J', list: ['\u009b1m'], 'k\u001b[1m': 1, n: 2 });
    expect(JSON.stringify(out)).toBe('{"requestedBy":"x","list":[""],"k":1,"n":2}');
    expect(Object.getPrototypeOf(out)).toBeNull();
  });

  it('cleans whatever is written through it', () => {
    let written = '';
    printableWriter({ write: (s: string) => (written += s) }).write(`error: got ${runtimePrivateKeyPem().trim()}\u001b[2J\n`);
    expect(written).toBe(`error: got ${WITHHELD}\n`);
  });
});
