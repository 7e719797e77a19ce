/**
 * The CLI's own behaviour that needs no stack: flag validation and exit codes, configuration from the
 * injected env, output in a pipe vs a terminal, the operator timeline, and --follow driven by an
 * injected clock against mocked AWS clients.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import {
  SFNClient,
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StopExecutionCommand,
  type ExecutionStatus,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { runCli } from '../../cli/main';
import { endpointFor } from '../../cli/aws';
import { executionError, isExecutionOf, stepRuns, timeline } from '../../cli/executions';
import { styleFor, table } from '../../cli/io';
import { signerMessageWithFlags } from '../../cli/commands/sign';
import { fitToWidth } from '../../cli/commands/onboard';
import type { OrgRecord } from '#shared/records/model';
import type { LocationRecord } from '#shared/records/location-read';
import { capture } from './helpers/capture';
import { expectFollowProgress, followSection } from './helpers/follow';
import { WITHHELD } from '../../cli/io';
import { pemBody, runtimePrivateKeyPem } from '../fixtures/private-key';

const ORG = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
const GOOD = ['--org', ORG, '--role-name', 'prod', '--bucket', 'acme-firmware', '--region', 'eu-west-1', '--role-arn', 'arn:aws:iam::222222222222:role/PeridioBinaries'];
const ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'secret',
  BINARY_BACKENDS_API_URL: 'https://front-door.example.test',
  BINARY_BACKENDS_TABLE: 'binary-backends-test',
  BINARY_BACKENDS_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:111111111111:stateMachine:onboarding',
};

describe('CLI: version', () => {
  it('prints the package version and exits 0', async () => {
    const c = capture({});
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await runCli(['--version'], c.io)).toBe(0);
    expect(c.stdout().trim()).toBe(version);
  });
});

describe('CLI: bad usage', () => {
  it('exits 2 and names the flag for a bucket that looks like an IP address', async () => {
    const c = capture({});
    const code = await runCli(['onboard', ...GOOD.slice(0, 4), '--bucket', '192.168.5.4', ...GOOD.slice(6)], c.io);
    expect(code).toBe(2);
    expect(c.stderr()).toContain('--bucket: must not look like an IP address');
    expect(c.stdout()).toBe('');
  });

  it('names every bad flag at once, in flag terms rather than field paths', async () => {
    const c = capture({});
    const code = await runCli(['onboard', '--org', ORG.toUpperCase(), '--role-name', 'much-too-long', '--bucket', 'ok-bucket', '--region', 'moon-1', '--role-arn', 'arn:aws:sts::222222222222:assumed-role/x/y'], c.io);
    expect(code).toBe(2);
    for (const flag of ['--org', '--role-name', '--region', '--role-arn']) expect(c.stderr()).toContain(`${flag}: `);
    expect(c.stderr()).not.toMatch(/upload\.|orgId:/);
  });

  it('refuses a CloudFront key group ID given as --key-pair-id, asking for the public key ID', async () => {
    const c = capture({});
    const code = await runCli(['onboard', ...GOOD, '--cloudfront-host', 'd111111abcdef8.cloudfront.net', '--key-pair-id', '7b3c5e1a-1111-2222-3333-444455556666', '--private-key-file', '/nonexistent'], c.io);
    expect(code).toBe(2);
    expect(c.stderr()).toContain('--key-pair-id: looks like a CloudFront key group ID');
  });

  it('requires the CloudFront flags together', async () => {
    const c = capture({});
    expect(await runCli(['onboard', ...GOOD, '--cloudfront-host', 'd111111abcdef8.cloudfront.net'], c.io)).toBe(2);
    expect(c.stderr()).toContain('--key-pair-id, --private-key-file: required');
  });

  it('names --ttl when it is not a whole number, and when it is out of bounds', async () => {
    const a = capture({});
    expect(await runCli(['sign', '--org', ORG, '--key', 'a', '--ttl', 'soon'], a.io)).toBe(2);
    expect(a.stderr()).toContain('--ttl: must be a whole number');
    const b = capture({});
    const cf = ['--cloudfront-host', 'd111111abcdef8.cloudfront.net', '--key-pair-id', 'K2JCJMDEHXQW5F', '--private-key-file', '/nonexistent'];
    expect(await runCli(['onboard', ...GOOD, ...cf, '--ttl', '5'], b.io)).toBe(2);
    expect(b.stderr()).toContain('--ttl: must be at least 60');
  });

  it('refuses, before storing a key or calling AWS, a role in the platform account, another partition\'s region and a loopback host outside the local stack', async () => {
    const env = { ...ENV, PLATFORM_ACCOUNT_ID: '111111111111' };
    const own = capture(env);
    expect(await runCli(['onboard', ...GOOD.slice(0, -2), '--role-arn', 'arn:aws:iam::111111111111:role/PeridioBinaries'], own.io)).toBe(2);
    expect(own.stderr()).toContain("--role-arn: must be a role in the customer's account");
    const cn = capture(env);
    expect(await runCli(['onboard', ...GOOD.slice(0, 6), '--region', 'cn-north-1', ...GOOD.slice(8)], cn.io)).toBe(2);
    expect(cn.stderr()).toContain('--region: is in the aws-cn partition');
    const cf = ['--cloudfront-host', '127.0.0.1:4709', '--key-pair-id', 'K2JCJMDEHXQW5F', '--private-key-file', '/nonexistent/key.pem'];
    const loop = capture(env);
    expect(await runCli(['onboard', ...GOOD, ...cf], loop.io)).toBe(2);
    expect(loop.stderr()).toContain('--cloudfront-host: must be a domain name');
    // The local stack's flag lets its edge through (the next refusal is the unreadable key file).
    const local = capture({ ...env, BINARY_BACKENDS_ALLOW_LOOPBACK_HOSTS: 'true' });
    expect(await runCli(['onboard', ...GOOD, ...cf], local.io)).toBe(2);
    expect(local.stderr()).toContain('--private-key-file');
  });

  it('never echoes a PEM given as --ttl, to a terminal or as JSON', async () => {
    const pem = runtimePrivateKeyPem();
    for (const argv of [
      ['sign', '--org', ORG, '--key', 'a', '--ttl', pem],
      ['onboard', ...GOOD, '--cloudfront-host', 'd111111abcdef8.cloudfront.net', '--key-pair-id', 'K2JCJMDEHXQW5F', '--private-key-file', '/nonexistent', '--ttl', pem],
      ['sign', '--org', ORG, '--key', 'a', '--ttl', pem, '--json'],
    ]) {
      const c = capture({}, { isTTY: true });
      expect(await runCli(argv, c.io)).toBe(2);
      const printed = c.stdout() + c.stderr();
      expect(printed).toContain('--ttl');
      expect(printed).toContain(WITHHELD);
      expect(printed).not.toContain('BEGIN');
      expect(printed).not.toContain(pemBody(pem).slice(0, 16));
    }
  });

  it('never echoes a PEM given as sign --key', async () => {
    const pem = runtimePrivateKeyPem();
    const c = capture({});
    expect(await runCli(['sign', '--org', ORG, '--key', pem], c.io)).toBe(2);
    expect(c.stderr()).toContain('--key');
    expect(c.stderr()).not.toContain('BEGIN');
    expect(c.stderr()).not.toContain(pemBody(pem).slice(0, 16));
  });

  it('names --private-key-file when the file cannot be read, without touching AWS', async () => {
    const c = capture(ENV);
    const code = await runCli(['onboard', ...GOOD, '--cloudfront-host', 'd111111abcdef8.cloudfront.net', '--key-pair-id', 'K2JCJMDEHXQW5F', '--private-key-file', '/nonexistent/key.pem'], c.io);
    expect(code).toBe(2);
    expect(c.stderr()).toContain('--private-key-file: cannot read');
  });

  it('rejects --hash-algorithm values other than SHA1 and SHA256, unknown commands and unknown flags', async () => {
    for (const argv of [['onboard', ...GOOD, '--hash-algorithm', 'MD5'], ['frobnicate'], ['status', '--org', ORG, '--colour']]) {
      const c = capture({});
      expect(await runCli(argv, c.io)).toBe(2);
      expect(c.stderr()).toMatch(/error/);
    }
  });

  it('requires --confirm to deactivate and says that binaries stay in the bucket', async () => {
    const c = capture(ENV);
    expect(await runCli(['deactivate', '--org', ORG], c.io)).toBe(2);
    expect(c.stderr()).toContain('--confirm: required');
    expect(c.stderr()).toContain('stay there');
  });

  it('names every missing environment variable, with exit code 2', async () => {
    const c = capture({});
    expect(await runCli(['onboard', ...GOOD], c.io)).toBe(2);
    expect(c.stderr()).toContain('AWS_REGION, BINARY_BACKENDS_API_URL, BINARY_BACKENDS_TABLE');
    const h = capture({ AWS_REGION: 'us-east-1' });
    expect(await runCli(['history', '--org', ORG], h.io)).toBe(2);
    expect(h.stderr()).toContain('BINARY_BACKENDS_STATE_MACHINE_ARN');
  });

  it('says the stack is not reachable, with exit code 1, when nothing listens at the endpoint', async () => {
    const c = capture({ ...ENV, AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9' });
    expect(await runCli(['status', '--org', ORG], c.io)).toBe(1);
    expect(c.stderr()).toContain('Could not reach AWS at the configured endpoint');
  });

  it('prints a machine-readable error with --json', async () => {
    const c = capture({});
    expect(await runCli(['status', '--org', 'nope', '--json'], c.io)).toBe(2);
    expect(JSON.parse(c.stdout())).toMatchObject({ error: { name: 'UsageError' }, exitCode: 2 });
  });

  it('prints help with exit code 0', async () => {
    const c = capture({});
    expect(await runCli(['--help'], c.io)).toBe(0);
    expect(c.stdout()).toContain('onboard');
  });
});

describe('CLI: configuration from the injected environment', () => {
  it('prefers AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, as the SDK does', () => {
    expect(endpointFor({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:2' }, 'SFN')).toBe('http://127.0.0.1:2');
    expect(endpointFor({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }, 'SECRETS_MANAGER')).toBe('http://127.0.0.1:1');
    expect(endpointFor({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, 'S3')).toBeUndefined();
    expect(endpointFor({}, 'S3')).toBeUndefined();
  });
});

describe('CLI: signer errors in flag terms', () => {
  it('names --key (with the key) and --ttl instead of the request fields', () => {
    expect(signerMessageWithFlags('keys.1: must be at most 1024 bytes; ttlSeconds: must be at most 604800 seconds', ['a', 'b/c'])).toBe(
      '--key "b/c": must be at most 1024 bytes; --ttl: must be at most 604800 seconds',
    );
  });
});

describe('CLI: output', () => {
  it('fits a redrawn progress line to the terminal width, dropping trailing parts first', () => {
    expect(fitToWidth(['07:00:00', 'WaitForTrust', '(AccessDenied on the customer role)'], 30)).toBe('07:00:00  WaitForTrust');
    expect(fitToWidth(['\u001b[36mWaitForTrust\u001b[39m', 'x'], 40)).toBe('\u001b[36mWaitForTrust\u001b[39m  x');
    expect(fitToWidth(['a'.repeat(50)], 30)).toBe(`${'a'.repeat(28)}…`);
  });

  it('uses no colour codes in a pipe or with NO_COLOR, and colour on a terminal', () => {
    const rows = [['prod', 'ACTIVE']];
    expect(table(styleFor({ env: {}, isTTY: false }), ['A', 'B'], rows)).not.toContain('\u001b[');
    expect(table(styleFor({ env: { NO_COLOR: '1' }, isTTY: true }), ['A', 'B'], rows)).not.toContain('\u001b[');
    expect(table(styleFor({ env: {}, isTTY: true }), ['A', 'B'], rows)).toContain('\u001b[');
  });
});

function ev(id: number, type: string, seconds: number, extra: Partial<HistoryEvent> = {}): HistoryEvent {
  return { id, type: type as HistoryEvent['type'], timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)), ...extra };
}
function entered(id: number, type: string, name: string, s: number): HistoryEvent {
  return ev(id, `${type}StateEntered`, s, { stateEnteredEventDetails: { name } });
}
function exited(id: number, type: string, name: string, s: number): HistoryEvent {
  return ev(id, `${type}StateExited`, s, { stateExitedEventDetails: { name } });
}

describe('CLI: the operator timeline', () => {
  it('collapses the CheckTrust loop into one entry counting checks and waits', () => {
    const events: HistoryEvent[] = [ev(1, 'ExecutionStarted', 0)];
    let id = 2;
    let s = 0;
    events.push(entered(id++, 'Task', 'RecordConfig', s), ev(id++, 'LambdaFunctionScheduled', s), exited(id++, 'Task', 'RecordConfig', ++s));
    for (let i = 0; i < 4; i += 1) {
      events.push(entered(id++, 'Task', 'CheckTrust', s), ev(id++, 'LambdaFunctionScheduled', s), exited(id++, 'Task', 'CheckTrust', ++s));
      events.push(entered(id++, 'Choice', 'IsTrusted', s), exited(id++, 'Choice', 'IsTrusted', s));
      if (i < 3) events.push(entered(id++, 'Wait', 'WaitForTrust', s), exited(id++, 'Wait', 'WaitForTrust', (s += 5)));
    }
    events.push(entered(id++, 'Task', 'VerifyUpload', s), ev(id++, 'LambdaFunctionScheduled', s));
    events.push(ev(id++, 'LambdaFunctionFailed', s, { lambdaFunctionFailedEventDetails: { error: 'TransientError', cause: 'throttled' } }));
    events.push(ev(id++, 'LambdaFunctionScheduled', ++s), exited(id++, 'Task', 'VerifyUpload', ++s));
    const t = timeline(stepRuns(events));
    expect(t.map((e) => e.name)).toEqual(['RecordConfig', 'CheckTrust', 'VerifyUpload']);
    expect(t[1]).toMatchObject({ kind: 'trust-loop', checks: 4, waits: 3, durationMs: 19_000 });
    expect(t[2]).toMatchObject({ kind: 'state', retries: 1, errors: [{ name: 'TransientError', message: 'throttled' }] });
  });

  it('reads a Catch cause both as AWS JSON and as the plain message of aws-local-stepfunctions', () => {
    expect(executionError('TrustPolicyTimeoutError', '{"errorType":"TrustPolicyTimeoutError","errorMessage":"gave up"}')).toMatchObject({
      name: 'TrustPolicyTimeoutError',
      message: 'gave up',
      remediation: expect.stringContaining('trust-policy'),
    });
    expect(executionError('ExternalIdNotEnforcedError', 'no condition')).toMatchObject({ message: 'no condition', remediation: expect.stringContaining('sts:ExternalId') });
  });

  it("reads OnboardingFailed's cause, the whole caught error as JSON, with or without a Cause inside", () => {
    const aws = JSON.stringify({ Error: 'TrustPolicyTimeoutError', Cause: '{"errorType":"TrustPolicyTimeoutError","errorMessage":"gave up"}' });
    expect(executionError('TrustPolicyTimeoutError', aws)).toMatchObject({ name: 'TrustPolicyTimeoutError', message: 'gave up' });
    const local = JSON.stringify({ Error: 'ExternalIdNotEnforcedError', Cause: 'no condition' });
    expect(executionError('ExternalIdNotEnforcedError', local)).toMatchObject({ message: 'no condition' });
    expect(executionError('States.Timeout', '{"Error":"States.Timeout"}')).toMatchObject({ name: 'States.Timeout', message: '' });
  });

  it("matches an org's executions by name, and a backend's without its longer-named siblings", () => {
    expect(isExecutionOf(`${ORG}-prod-3`, ORG)).toBe(true);
    expect(isExecutionOf(`${ORG}-prod-3`, ORG, 'prod')).toBe(true);
    expect(isExecutionOf(`${ORG}-a-5-3`, ORG, 'a')).toBe(false);
    expect(isExecutionOf(`${ORG}-a-5-3`, ORG, 'a-5')).toBe(true);
    expect(isExecutionOf(`${ORG}-a_2eb-1`, ORG, 'a.b')).toBe(true);
    expect(isExecutionOf(`00000000-0000-4000-8000-000000000000-prod-1`, ORG)).toBe(false);
  });
});

describe('CLI: onboard --follow (mocked AWS, injected clock)', () => {
  // Installed for this block only, so the tests above talk to real (unreachable) endpoints.
  const install = () => ({
    lambda: mockClient(LambdaClient),
    sts: mockClient(STSClient),
    sfn: mockClient(SFNClient),
    ddb: mockClient(DynamoDBDocumentClient),
  });
  let m: ReturnType<typeof install>;
  /** The front door (the IAM-authorized HTTP API the CLI POSTs to): what it was sent, and what it answers. */
  const api = {
    calls: [] as { url: string; headers: Record<string, string>; body: Record<string, unknown> }[],
    status: 200,
    answer: {} as unknown,
    reply(status: number, answer: unknown) {
      api.status = status;
      api.answer = answer;
    },
  };
  beforeAll(() => {
    m = install();
    vi.stubGlobal('fetch', async (url: URL | string, init: { headers: Record<string, string>; body: string }) => {
      api.calls.push({ url: String(url), headers: init.headers, body: JSON.parse(init.body) as Record<string, unknown> });
      return new Response(JSON.stringify(api.answer), { status: api.status, headers: { 'content-type': 'application/json' } });
    });
  });
  afterAll(() => {
    vi.unstubAllGlobals();
    m.lambda.restore();
    m.sts.restore();
    m.sfn.restore();
    m.ddb.restore();
  });
  const execArn = `arn:aws:states:us-east-1:111111111111:execution:onboarding:${ORG}-prod-1`;
  beforeEach(() => {
    api.calls = [];
    api.reply(500, { message: 'Internal Server Error' });
    m.lambda.reset();
    m.sts.reset();
    m.sfn.reset();
    m.ddb.reset();
  });

  function locationItem(extra: Partial<LocationRecord> = {}): LocationRecord {
    return {
      pk: `ORG#${ORG}`,
      sk: 'LOCATION#b.prod.1',
      orgId: ORG,
      location: 'b.prod.1',
      roleName: 'prod',
      configVersion: 1,
      state: 'offboarded',
      executionName: `${ORG}-prod-1`,
      requestedBy: 'arn:aws:iam::111111111111:user/support',
      platformRoleArn: `arn:aws:iam::111111111111:role/binary_backend_${ORG}_prod`,
      upload: { bucket: 'acme-old', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/Old', accountId: '222222222222' },
      download: { type: 's3' },
      activatedAt: '2025-06-01T00:00:00.000Z',
      retiredAt: '2025-07-01T00:00:00.000Z',
      retiredReason: 'deactivated',
      offboardedAt: '2025-08-01T00:00:00.000Z',
      createdAt: '2025-06-01T00:00:00.000Z',
      updatedAt: '2025-08-01T00:00:00.000Z',
      ...extra,
    };
  }

  function record(status: string, attempts: number, nextCheckAt?: string): OrgRecord {
    return {
      pk: `ORG#${ORG}`,
      sk: 'BACKENDS',
      orgId: ORG,
      version: 3,
      updatedAt: '2026-01-01T00:00:00.000Z',
      ...(status === 'ACTIVE' ? { active: 'prod' } : {}),
      backends: {
        prod: {
          roleName: 'prod',
          lastConfigVersion: 1,
          platformRoleArn: `arn:aws:iam::111111111111:role/binary_backend_${ORG}_prod`,
          trustPolicy: '{"Version":"2012-10-17"}',
          [status === 'ACTIVE' ? 'serving' : 'pending']: {
            configVersion: 1,
            executionArn: execArn,
            executionName: `${ORG}-prod-1`,
            status,
            requestedBy: 'arn:aws:iam::111111111111:user/support',
            startedAt: '2026-01-01T00:00:00.000Z',
            trustDeadlineAt: '2026-01-08T00:00:00.000Z',
            attempts,
            nextCheckAt,
            lastCheckResult: 'AccessDenied on the customer role',
            upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/PeridioBinaries', accountId: '222222222222' },
            download: { type: 's3' },
            checks: [],
            createdAt: '2026-01-01T00:00:00.000Z',
            updatedAt: '2026-01-01T00:00:00.000Z',
          },
        },
      },
    } as OrgRecord;
  }

  /**
   * A trust wait as the follow view sees it: after `readsBefore` (the command's own reads of the record),
   * attempt 1 then attempt 2 in WaitForTrust, then ACTIVE. The clock starts at 00:00:10 and each sleep adds
   * 10 s, so both commands print the same countdowns.
   */
  function trustWaitScenario(readsBefore: { Item?: OrgRecord }[]) {
    const reads = m.ddb.on(GetCommand);
    for (const r of readsBefore) reads.resolvesOnce(r);
    reads
      .resolvesOnce({ Item: record('AWAITING_TRUST', 1, '2026-01-01T00:00:30.000Z') })
      .resolvesOnce({ Item: record('AWAITING_TRUST', 2, '2026-01-01T00:01:00.000Z') })
      .resolves({ Item: record('ACTIVE', 3) });
    m.sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' })
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'SUCCEEDED' });
    m.sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        ev(1, 'ExecutionStarted', 0, { executionStartedEventDetails: { input: JSON.stringify({ orgId: ORG, roleName: 'prod', configVersion: 1 }) } }),
        entered(2, 'Wait', 'WaitForTrust', 0),
      ],
    });
    let now = Date.parse('2026-01-01T00:00:10.000Z');
    const slept: number[] = [];
    const clock = {
      clock: () => new Date(now),
      sleep: async (ms: number) => {
        slept.push(ms);
        now += 10_000;
      },
    };
    return { clock, slept };
  }

  async function onboardFollowing(): Promise<{ code: number; out: string; err: string; slept: number[] }> {
    m.sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::111111111111:user/support' });
    api.reply(200, { executionArn: execArn, executionName: `${ORG}-prod-1`, configVersion: 1 });
    // Before the starter the org has no record yet; then the trust policy is ready.
    const { clock, slept } = trustWaitScenario([{}, { Item: record('AWAITING_TRUST', 0) }]);
    const c = capture(ENV, clock);
    const code = await runCli(['onboard', ...GOOD, '--follow'], c.io);
    return { code, out: c.stdout(), err: c.stderr(), slept };
  }

  it('shows the state, the attempt count and the time to the next check, then the activation', async () => {
    const { code, out, err, slept } = await onboardFollowing();
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('{"Version":"2012-10-17"}');
    expectFollowProgress(out, execArn);
    expect(out).not.toContain('\u001b[');
    expect(slept.length).toBeGreaterThan(0);
    // Only the request goes to the starter, through the front door, SigV4-signed for execute-api: the service
    // records the signer as requestedBy, so the body carries none.
    expect(api.calls).toHaveLength(1);
    expect(api.calls[0]!.url).toBe('https://front-door.example.test/onboardings');
    expect(api.calls[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/execute-api\/aws4_request, /);
    expect(api.calls[0]!.body).toMatchObject({ orgId: ORG, roleName: 'prod', download: { type: 's3' } });
    expect(api.calls[0]!.body).not.toHaveProperty('requestedBy');
    expect(m.lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it('redraws the progress line in place, in colour, on a terminal', async () => {
    m.sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::111111111111:user/support' });
    api.reply(200, { executionArn: execArn, configVersion: 1, deduplicated: true });
    m.ddb
      .on(GetCommand)
      .resolvesOnce({ Item: record('AWAITING_TRUST', 1, '2026-01-01T00:00:30.000Z') })
      .resolvesOnce({ Item: record('AWAITING_TRUST', 1, '2026-01-01T00:00:30.000Z') })
      .resolvesOnce({ Item: record('AWAITING_TRUST', 1, '2026-01-01T00:00:30.000Z') })
      .resolves({ Item: record('ACTIVE', 2) });
    m.sfn.on(DescribeExecutionCommand).resolvesOnce({ status: 'RUNNING' }).resolves({ status: 'SUCCEEDED' });
    m.sfn.on(GetExecutionHistoryCommand).resolves({ events: [entered(1, 'Wait', 'WaitForTrust', 0)] });
    let onCtrlC = '';
    let handlerRemoved = false;
    const c = capture(ENV, {
      isTTY: true,
      clock: () => new Date('2026-01-01T00:00:10.000Z'),
      sleep: async () => undefined,
      onInterrupt: (message) => {
        onCtrlC = message();
        return () => {
          handlerRemoved = true;
        };
      },
    });
    expect(await runCli(['onboard', ...GOOD, '--follow'], c.io)).toBe(0);
    // Ctrl-C while following would have said that the onboarding keeps running.
    expect(onCtrlC).toContain('The onboarding keeps running on its own');
    expect(onCtrlC).toContain('follow again: binary-backends onboard <same flags> --follow');
    expect(handlerRemoved).toBe(true);
    expect(c.stdout()).toContain('\r\u001b[K');
    expect(c.stdout()).toContain('\u001b[32m');
    expect(c.stdout()).toContain('already running');
  });

  it('shows a failure with its remediation and exits 1', async () => {
    m.sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::111111111111:user/support' });
    api.reply(200, { executionArn: execArn, configVersion: 1 });
    const failed = record('FAILED', 3);
    failed.backends.prod!.pending!.error = { name: 'ExternalIdNotEnforcedError', message: 'assumable without ExternalId', remediation: 'add the condition', at: '2026-01-01T00:00:00.000Z' };
    m.ddb.on(GetCommand).resolves({ Item: failed });
    m.sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED', error: 'ExternalIdNotEnforcedError', cause: 'assumable without ExternalId' });
    m.sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const c = capture(ENV, { sleep: async () => undefined });
    expect(await runCli(['onboard', ...GOOD], c.io)).toBe(1);
    expect(c.stdout()).toContain('ExternalIdNotEnforcedError: assumable without ExternalId');
    expect(c.stdout()).toContain('fix: add the condition');
  });

  it('starts nothing when the backend is already active with exactly this configuration', async () => {
    m.sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::111111111111:user/support' });
    m.ddb.on(GetCommand).resolves({ Item: record('ACTIVE', 3) });
    const c = capture(ENV);
    expect(await runCli(['onboard', ...GOOD], c.io)).toBe(0);
    expect(c.stdout()).toContain('already ACTIVE with exactly this configuration');
    expect(api.calls).toHaveLength(0);
    // A different configuration goes to the starter (a re-onboarding).
    api.reply(503, { errorType: 'TransientError', errorMessage: 'stop here' });
    const d = capture(ENV);
    expect(await runCli(['onboard', ...GOOD.slice(0, 6), '--region', 'eu-central-1', ...GOOD.slice(8)], d.io)).toBe(1);
    expect(api.calls).toHaveLength(1);
  });

  it('never echoes a single-line PEM given as sign --key when the signer refuses it', async () => {
    const pem = runtimePrivateKeyPem().trim().replace(/\n/g, ' ');
    m.lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: new TextEncoder().encode(JSON.stringify({ errorType: 'ValidationError', errorMessage: 'keys.0: must be at most 1024 bytes' })) as never,
    });
    const c = capture({ ...ENV, BINARY_BACKENDS_SIGNER_FUNCTION: 'binary-backends-test-sign-url' });
    expect(await runCli(['sign', '--org', ORG, '--key', pem], c.io)).toBe(2);
    expect(c.stderr()).toContain(`--key "${WITHHELD}`);
    expect(c.stderr()).not.toContain('BEGIN');
    expect(c.stderr()).not.toContain(pemBody(pem.replace(/ /g, '\n')).slice(0, 16));
  });

  it('status: a requestedBy with escape codes can neither rewrite the terminal nor forge a line', async () => {
    const forged = record('AWAITING_TRUST', 2, '2026-01-01T00:05:00.000Z');
    forged.backends.prod!.pending!.requestedBy =
      'arn:aws:iam::111111111111:user/x\u001b]0;owned\u0007\u001b[2J\u001b[H\r\nStatus: ACTIVE\u009b32m \u202egnitset';
    m.ddb.on(GetCommand).resolves({ Item: forged });
    // A location item's who/why fields are untrusted text too (offboard --reason is typed by a person).
    m.ddb.on(QueryCommand).resolves({ Items: [locationItem({ offboardReason: 'done\r\nStatus: ACTIVE\u001b[2J', offboardedBy: 'x\u202eevil' })] });
    for (const isTTY of [false, true]) {
      const c = capture(ENV, { isTTY, clock: () => new Date('2026-01-01T00:00:00.000Z') });
      expect(await runCli(['status', '--org', ORG], c.io)).toBe(0);
      const out = c.stdout();
      expect(out).toContain('arn:aws:iam::111111111111:user/x');
      expect(out).not.toMatch(/\u001b\[2J|\u001b\[H|\u001b\]|\u009b|\u202e|\r/);
      expect(out.split('\n').some((line) => line.startsWith('Status: ACTIVE'))).toBe(false);
      expect(out).toContain('Configs of backend "prod"');
      expect(out.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(/v1\s+offboarded\s+b\.prod\.1/);
      // On a terminal, only the CLI's own colour codes remain.
      for (const seq of out.match(/\u001b\[[0-9;]*[A-Za-z]/g) ?? []) expect(seq).toMatch(/^\u001b\[(1|2|22|3[1-6]|39|90)m$/);
    }
    const j = capture(ENV);
    expect(await runCli(['status', '--org', ORG, '--json'], j.io)).toBe(0);
    expect(j.stdout()).not.toContain('\\u001b');
    expect(j.stdout()).not.toContain('\u202e');
  });

  it('shows a starter error by name with its remediation', async () => {
    m.sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::111111111111:user/support' });
    api.reply(409, { errorType: 'OnboardingInProgressError', errorMessage: `${ORG}-prod-1 is running` });
    m.ddb.on(GetCommand).resolves({});
    const c = capture(ENV);
    expect(await runCli(['onboard', ...GOOD], c.io)).toBe(1);
    expect(c.stderr()).toContain('OnboardingInProgressError');
    expect(c.stderr()).toContain('fix: Wait for the running onboarding');
  });

  describe('history --follow', () => {
    const devArn = `arn:aws:states:us-east-1:111111111111:execution:onboarding:${ORG}-dev-1`;
    const listed = (status: ExecutionStatus) => ({
      executions: [
        // Older, and of another backend: still running, but not the newest running one.
        { name: `${ORG}-dev-1`, executionArn: devArn, stateMachineArn: ENV.BINARY_BACKENDS_STATE_MACHINE_ARN, status: 'RUNNING' as const, startDate: new Date('2025-12-31T00:00:00.000Z') },
        { name: `${ORG}-prod-1`, executionArn: execArn, stateMachineArn: ENV.BINARY_BACKENDS_STATE_MACHINE_ARN, status, startDate: new Date('2026-01-01T00:00:00.000Z') },
        // Another org's execution is never followed.
        {
          name: `00000000-0000-4000-8000-000000000000-prod-9`,
          executionArn: 'arn:aws:states:us-east-1:111111111111:execution:onboarding:00000000-0000-4000-8000-000000000000-prod-9',
          stateMachineArn: ENV.BINARY_BACKENDS_STATE_MACHINE_ARN,
          status: 'RUNNING' as const,
          startDate: new Date('2026-01-02T00:00:00.000Z'),
        },
      ],
    });

    it("follows the org's newest running execution with the same progress lines as onboard --follow", async () => {
      const onboarded = await onboardFollowing();
      expect(onboarded.code).toBe(0);
      const onboardSection = expectFollowProgress(onboarded.out, execArn);

      m.sfn.reset();
      m.ddb.reset();
      const { clock } = trustWaitScenario([]);
      m.sfn.on(ListExecutionsCommand).resolves(listed('RUNNING'));
      m.sfn.on(GetExecutionHistoryCommand, { executionArn: devArn }).resolves({
        events: [ev(1, 'ExecutionStarted', 0, { executionStartedEventDetails: { input: JSON.stringify({ orgId: ORG, roleName: 'dev', configVersion: 1 }) } })],
      });
      m.ddb.on(QueryCommand).resolves({ Items: [] });
      let onCtrlC = '';
      let handlerRemoved = false;
      const c = capture(ENV, {
        ...clock,
        onInterrupt: (message) => {
          onCtrlC = message();
          return () => {
            handlerRemoved = true;
          };
        },
      });
      expect(await runCli(['history', '--org', ORG, '--follow'], c.io)).toBe(0);
      expect(c.stderr()).toBe('');
      // The usual history first (both executions), then the follow view.
      const out = c.stdout();
      expect(out.indexOf(`${ORG}-prod-1  RUNNING  (running)`)).toBeGreaterThanOrEqual(0);
      expect(out).toContain(`${ORG}-dev-1  RUNNING`);
      expect(out.indexOf(`${ORG}-prod-1  RUNNING`)).toBeLessThan(out.indexOf('\nFollowing '));
      expect(expectFollowProgress(out, execArn)).toBe(onboardSection);
      expect(followSection(out)).toBe(followSection(onboarded.out));
      // Only the newest running execution was watched, and nothing stopped it.
      const watched = m.sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input.executionArn);
      expect(watched.length).toBeGreaterThan(0);
      expect(new Set(watched)).toEqual(new Set([execArn]));
      expect(m.sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
      // Ctrl-C stops following: the hint names history's own command, and the handler is gone afterwards.
      expect(onCtrlC).toContain('Stopped following. The onboarding keeps running on its own.');
      expect(onCtrlC).toContain(`follow again: binary-backends history --org ${ORG} --follow`);
      expect(onCtrlC).not.toContain('onboard <same flags>');
      expect(handlerRemoved).toBe(true);
    });

    it('follows only the given backend with --role-name, and says so in the Ctrl-C hint', async () => {
      const { clock } = trustWaitScenario([]);
      m.sfn.on(ListExecutionsCommand).resolves(listed('RUNNING'));
      m.ddb.on(QueryCommand).resolves({ Items: [] });
      let onCtrlC = '';
      const c = capture(ENV, {
        ...clock,
        onInterrupt: (message) => {
          onCtrlC = message();
          return () => undefined;
        },
      });
      expect(await runCli(['history', '--org', ORG, '--role-name', 'prod', '--follow'], c.io)).toBe(0);
      expect(c.stdout()).not.toContain(`${ORG}-dev-1`);
      expectFollowProgress(c.stdout(), execArn);
      expect(onCtrlC).toContain(`follow again: binary-backends history --org ${ORG} --role-name prod --follow`);
    });

    it('says there is nothing to follow and exits 0 with the usual history when no execution is running', async () => {
      m.sfn.on(ListExecutionsCommand).resolves(listed('SUCCEEDED'));
      m.sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
      m.ddb.on(QueryCommand).resolves({ Items: [] });
      const c = capture(ENV, { sleep: async () => expect.unreachable('nothing to wait for') });
      expect(await runCli(['history', '--org', ORG, '--role-name', 'prod', '--follow'], c.io)).toBe(0);
      expect(c.stderr()).toBe('');
      const plain = capture(ENV);
      expect(await runCli(['history', '--org', ORG, '--role-name', 'prod'], plain.io)).toBe(0);
      expect(plain.stdout()).toContain(`${ORG}-prod-1  SUCCEEDED`);
      expect(c.stdout()).toBe(`${plain.stdout()}Nothing to follow: no onboarding execution of org ${ORG} backend "prod" is running.\n`);
      expect(c.stdout()).not.toContain('Following');
      expect(m.sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
      expect(m.ddb.commandCalls(GetCommand)).toHaveLength(0);
    });

    it('refuses --follow with --json: UsageError, exit 2, nothing read', async () => {
      const c = capture(ENV);
      expect(await runCli(['history', '--org', ORG, '--follow', '--json'], c.io)).toBe(2);
      expect(c.stderr()).toContain('--follow: cannot be combined with --json');
      expect(JSON.parse(c.stdout())).toMatchObject({ error: { name: 'UsageError', message: expect.stringContaining('--follow') }, exitCode: 2 });
      expect(m.sfn.calls()).toHaveLength(0);
      expect(m.ddb.calls()).toHaveLength(0);
    });
  });
});
