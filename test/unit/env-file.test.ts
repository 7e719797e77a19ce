import { describe, expect, it } from 'vitest';
import { formatEnvFile, parseEnvFile } from '../../local/env-file';

describe('env file (node:util parseEnv)', () => {
  it('round-trips what formatEnvFile writes, header comments ignored', () => {
    const env = { AWS_REGION: 'us-east-1', BINARY_BACKENDS_API_URL: 'http://127.0.0.1:4566/api', EMPTY: '' };
    expect(parseEnvFile(formatEnvFile(env, ['written by the local stack']))).toEqual(env);
  });
  it('reads dotenv forms a person may write: export prefix, quotes, CRLF, values with =', () => {
    expect(parseEnvFile('export A=1\r\nB="two words"\nC=\'x\'\n\n# note\nD=k=v\n')).toEqual({
      A: '1',
      B: 'two words',
      C: 'x',
      D: 'k=v',
    });
  });
});
