/** Looking for a private key where it must never be: CLI output, execution history, the table. */
import type { KeyObject } from 'node:crypto';

/** Distinctive fragments of a PEM private key: its body lines and the DER base64 without line breaks. */
export function keyFragments(privateKey: KeyObject): string[] {
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const lines = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  const der = (privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer).toString('base64');
  // Every full body line, plus slices of the unbroken DER (as it would appear JSON-escaped on one line).
  const slices = [der.slice(100, 164), der.slice(400, 464), der.slice(-120, -60)];
  return [...lines.filter((l) => l.length >= 40), ...slices];
}

/** Problems found in `text`: PEM markers or any fragment of the key. */
export function findKeyLeaks(text: string, fragments: string[]): string[] {
  const found: string[] = [];
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) found.push('a PEM private key block');
  if (/PRIVATE KEY/.test(text)) found.push('the words PRIVATE KEY');
  const flat = text.replace(/\\n|\s/g, '');
  for (const f of fragments) if (text.includes(f) || flat.includes(f)) found.push(`key fragment ${f.slice(0, 12)}…`);
  return found;
}
