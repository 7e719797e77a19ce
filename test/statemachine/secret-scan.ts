/**
 * Finds secrets in anything the workflow produced: execution inputs and outputs, every state's input and
 * output in the event log, the Catch causes, the DynamoDB records and the EventBridge events.
 *
 * Three kinds of secret: a PEM block (the CloudFront private key), an AWS secret access key, and an STS
 * session token. Each is looked for both by shape (patterns and field names) and literally (every secret
 * the fakes issued), so a secret that slipped in under an innocent field name is still found.
 */

/** Field names that must never carry a value. */
const SECRET_FIELD = /^(secret_?access_?key|aws_?secret_?access_?key|session_?token|aws_?session_?token|private_?key(_?pem)?|credentials)$/i;
const PEM = /-----BEGIN [A-Z0-9 ]*-----/;
/** A session token as STS issues them (base64 that starts with "IQoJb3JpZ2luX2Vj", or a very long base64 blob). */
const SESSION_TOKEN = /IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE|[A-Za-z0-9+/]{200,}={0,2}/;

export interface SecretFinding {
  path: string;
  kind: 'pem' | 'secret-field' | 'session-token' | 'issued-secret';
}

/** Every place in `value` that holds a secret. `literals` are exact secret values to look for too. */
export function findSecrets(value: unknown, literals: string[] = []): SecretFinding[] {
  // Narrow the literals to those present anywhere first: one pass over the JSON instead of one per string.
  const blob = JSON.stringify(value) ?? '';
  const present = literals.filter(
    (s) => s.length >= 20 && (blob.includes(JSON.stringify(s).slice(1, -1)) || bodyChunks(s).some((c) => blob.includes(c))),
  );
  return walk(value, present, '$');
}

function walk(value: unknown, literals: string[], path: string): SecretFinding[] {
  if (typeof value === 'string') {
    const found: SecretFinding[] = [];
    if (PEM.test(value)) found.push({ path, kind: 'pem' });
    if (SESSION_TOKEN.test(value)) found.push({ path, kind: 'session-token' });
    // A PEM's base64 body without its header still counts: compare 40-character slices of each literal.
    if (literals.some((s) => s.length >= 20 && (value.includes(s) || bodyChunks(s).some((c) => value.includes(c))))) {
      found.push({ path, kind: 'issued-secret' });
    }
    return found;
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => walk(v, literals, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(SECRET_FIELD.test(k) && v !== undefined && v !== null && v !== '' ? [{ path: `${path}.${k}`, kind: 'secret-field' as const }] : []),
      ...walk(v, literals, `${path}.${k}`),
    ]);
  }
  return [];
}

function bodyChunks(secret: string): string[] {
  if (!PEM.test(secret)) return [];
  const body = secret.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, '');
  const chunks: string[] = [];
  for (let i = 0; i + 40 <= body.length; i += 200) chunks.push(body.slice(i, i + 40));
  return chunks;
}
