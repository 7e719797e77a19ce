import { describe, expect, it } from 'vitest';
import { ConfigurationError, commonConfig, env, loadConfig } from '#shared/config';

describe('Function: loadConfig', () => {
  it('reads strings, defaults and seconds', () => {
    const config = loadConfig(
      { ...commonConfig, GRACE: env.seconds(300), LIMIT: env.seconds(30, { min: 0, max: 60 }), EXTRA: env.optionalString() },
      { AWS_REGION: 'eu-west-1', TABLE_NAME: 't', LIMIT: '45' },
    );
    expect(config).toEqual({ AWS_REGION: 'eu-west-1', TABLE_NAME: 't', EVENT_BUS_NAME: 'default', GRACE: 300, LIMIT: 45, EXTRA: undefined });
  });

  it('names every missing or malformed variable in one ConfigurationError', () => {
    const act = () => loadConfig({ ...commonConfig, LIMIT: env.seconds(30, { min: 0, max: 60 }) }, { TABLE_NAME: '', LIMIT: '61' });
    expect(act).toThrow(ConfigurationError);
    expect(act).toThrow(
      'Bad function configuration: AWS_REGION is not set; TABLE_NAME: must not be empty; LIMIT: must be a whole number of seconds from 0 to 60 (got "61")',
    );
  });

  it('refuses fractional and non-numeric seconds', () => {
    expect(() => loadConfig({ S: env.seconds(1) }, { S: '1.5' })).toThrow(/S: must be a whole number/);
    expect(() => loadConfig({ S: env.seconds(1) }, { S: 'ten' })).toThrow(/S: must be a whole number/);
  });
});
