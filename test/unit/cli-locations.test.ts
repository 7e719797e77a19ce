/**
 * The CLI's side of storage locations (issue 11, docs/locations.md) without a stack: `sign --location`
 * (flag checks, what the signer is sent, what is printed), the configs `status` lists (location items plus
 * the org item's pending and legacy serving configs), and the retirements and offboardings `history`
 * reads from the audit trail.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { SFNClient, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { runCli } from '../../cli/main';
import { signerMessageWithFlags } from '../../cli/commands/sign';
import { configsOfBackend, storageChanges } from '../../cli/records';
import type { HistoryResult } from '../../cli/commands/history';
import type { StatusResult } from '../../cli/commands/records-view';
import type { AuditEvent, BackendConfig, OrgRecord } from '#shared/records/model';
import type { LocationRecord } from '#shared/records/location-read';
import { capture } from '../e2e/helpers/capture';

const ORG = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
const ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'secret',
  BINARY_BACKENDS_TABLE: 'binary-backends-test',
  BINARY_BACKENDS_SIGNER_FUNCTION: 'binary-backends-test-sign-url',
  BINARY_BACKENDS_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:111111111111:stateMachine:onboarding',
};

function config(configVersion: number, extra: Partial<BackendConfig> = {}): BackendConfig {
  return {
    configVersion,
    executionArn: `arn:aws:states:us-east-1:111111111111:execution:onboarding:${ORG}-prod-${configVersion}`,
    executionName: `${ORG}-prod-${configVersion}`,
    status: 'ACTIVE',
    requestedBy: 'arn:aws:iam::111111111111:user/support',
    startedAt: '2026-01-01T00:00:00.000Z',
    trustDeadlineAt: '2026-01-08T00:00:00.000Z',
    attempts: 1,
    upload: { bucket: `bucket-${configVersion}`, region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/R', accountId: '222222222222' },
    download: { type: 's3' },
    checks: [],
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    activatedAt: '2026-01-01T00:10:00.000Z',
    ...extra,
  };
}

function item(configVersion: number, state: LocationRecord['state'], extra: Partial<LocationRecord> = {}): LocationRecord {
  const c = config(configVersion);
  return {
    pk: `ORG#${ORG}`,
    sk: `LOCATION#b.prod.${configVersion}`,
    orgId: ORG,
    location: `b.prod.${configVersion}`,
    roleName: 'prod',
    configVersion,
    state,
    executionName: c.executionName,
    requestedBy: c.requestedBy,
    platformRoleArn: `arn:aws:iam::111111111111:role/binary_backend_${ORG}_prod`,
    upload: c.upload,
    download: c.download,
    activatedAt: c.activatedAt!,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    ...extra,
  };
}

function org(extra: Partial<OrgRecord> = {}): OrgRecord {
  return { pk: `ORG#${ORG}`, sk: 'BACKENDS', orgId: ORG, version: 1, updatedAt: '2026-01-01T00:00:00.000Z', backends: {}, ...extra };
}

describe('status: every config of a backend', () => {
  it('lists location items, a legacy serving config without an item, and the pending config, oldest first', () => {
    const backend = { roleName: 'prod', lastConfigVersion: 4, serving: config(3), pending: config(4, { status: 'AWAITING_TRUST', activatedAt: undefined }) };
    const record = org({ active: 'prod', backends: { prod: backend } });
    const items = [
      item(2, 'retired', { retiredAt: '2026-01-02T00:00:00.000Z', retiredReason: 'replaced', replacedBy: 'b.prod.3', retiredBy: 'arn:aws:iam::111111111111:user/b' }),
      item(1, 'offboarded', { offboardedAt: '2026-01-03T00:00:00.000Z', offboardedBy: 'arn:aws:iam::111111111111:user/ops', offboardReason: 'bucket closed' }),
      // Another backend's item is not this backend's config.
      { ...item(1, 'retired'), roleName: 'other', location: 'b.other.1' },
    ];
    const rows = configsOfBackend(record, backend, items);
    expect(rows.map((r) => [r.configVersion, r.state, r.location, r.bucket, r.source])).toEqual([
      [1, 'offboarded', 'b.prod.1', 'bucket-1', 'location-item'],
      [2, 'retired', 'b.prod.2', 'bucket-2', 'location-item'],
      [3, 'serving', 'b.prod.3', 'bucket-3', 'org-item'],
      [4, 'pending', undefined, 'bucket-4', 'org-item'],
    ]);
    expect(rows[0]).toMatchObject({ offboardedBy: 'arn:aws:iam::111111111111:user/ops', offboardReason: 'bucket closed' });
    expect(rows[1]).toMatchObject({ retiredReason: 'replaced', replacedBy: 'b.prod.3' });
  });

  it('shows a legacy serving config of a deactivated org as retired (as the signer resolves it), and a failed onboarding as failed', () => {
    const backend = { roleName: 'prod', lastConfigVersion: 2, serving: config(1), pending: config(2, { status: 'FAILED', activatedAt: undefined }) };
    const rows = configsOfBackend(org({ backends: { prod: backend } }), backend, []);
    expect(rows.map((r) => [r.configVersion, r.state, r.location])).toEqual([
      [1, 'retired', 'b.prod.1'],
      [2, 'failed', undefined],
    ]);
  });

  it('prefers the location item over the org item for the same config version', () => {
    const backend = { roleName: 'prod', lastConfigVersion: 1, serving: config(1) };
    const rows = configsOfBackend(org({ backends: { prod: backend } }), backend, [item(1, 'retired', { retiredReason: 'deactivated' })]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ state: 'retired', source: 'location-item', retiredReason: 'deactivated' });
  });
});

describe('history: retirements and offboardings from the audit trail', () => {
  const ev = (step: string, at: string, detail: Record<string, unknown>, executionName = `${ORG}-prod-2`): AuditEvent => ({
    pk: `ORG#${ORG}`,
    sk: `EVENT#${executionName}#${step}#1`,
    orgId: ORG,
    executionName,
    step,
    attempt: 1,
    at,
    detail,
  });
  const events = [
    ev('CheckTrust', '2026-01-01T00:00:00.000Z', { ok: true }),
    ev('Offboard', '2026-01-05T00:00:00.000Z', { roleName: 'prod', locations: ['b.prod.1'], by: 'arn:ops', reason: 'closed', platformRole: 'kept', keysScheduledForDeletion: [] }, 'offboard-1'),
    ev('Activate', '2026-01-02T00:00:00.000Z', { configVersion: 2, retired: [{ location: 'b.prod.1', reason: 'replaced' }] }),
    ev('Activate', '2026-01-01T00:10:00.000Z', { configVersion: 1, retired: [] }, `${ORG}-prod-1`),
    ev('Deactivate', '2026-01-04T00:00:00.000Z', { requestedBy: 'arn:caller', retired: [{ location: 'b.prod.2', reason: 'deactivated' }, { location: 'b.cdn.1', reason: 'deactivated' }] }, 'deactivate-x'),
  ];

  it('keeps only the steps that retired or offboarded something, oldest first, with who and why', () => {
    const changes = storageChanges(events);
    expect(changes.map((c) => [c.step, c.kind, c.locations, c.by])).toEqual([
      ['Activate', 'retired', ['b.prod.1'], undefined],
      ['Deactivate', 'retired', ['b.prod.2', 'b.cdn.1'], 'arn:caller'],
      ['Offboard', 'offboarded', ['b.prod.1'], 'arn:ops'],
    ]);
    expect(changes[2]).toMatchObject({ reason: 'closed', platformRole: 'kept', roleName: 'prod' });
  });

  it('with --role-name, only that backend', () => {
    expect(storageChanges(events, 'cdn').map((c) => [c.step, c.locations])).toEqual([['Deactivate', ['b.cdn.1']]]);
    // `prod` must not match a backend named `prod2` (b.prod2.N).
    const other = [ev('Deactivate', '2026-01-04T00:00:00.000Z', { retired: [{ location: 'b.prod2.1', reason: 'deactivated' }] }, 'deactivate-y')];
    expect(storageChanges(other, 'prod')).toEqual([]);
  });
});

describe('CLI with mocked AWS: sign --location, status and history', () => {
  const install = () => ({ lambda: mockClient(LambdaClient), ddb: mockClient(DynamoDBDocumentClient), sfn: mockClient(SFNClient) });
  let m: ReturnType<typeof install>;
  beforeAll(() => {
    m = install();
  });
  afterAll(() => {
    m.lambda.restore();
    m.ddb.restore();
    m.sfn.restore();
  });
  beforeEach(() => {
    m.lambda.reset();
    m.ddb.reset();
    m.sfn.reset();
  });
  const answer = (payload: unknown, error = false) => ({
    StatusCode: 200,
    ...(error ? { FunctionError: 'Unhandled' } : {}),
    Payload: new TextEncoder().encode(JSON.stringify(payload)) as never,
  });

  it('sends the location to the signer and prints the location of the answer', async () => {
    m.lambda.on(InvokeCommand).resolves(
      answer({ storage: 'custom', roleName: 'prod', via: 's3', location: 'b.prod.1', urls: [{ key: 'fw/a', url: 'https://x/fw/a', method: 'GET', expiresAt: '2026-01-01T00:15:00.000Z' }] }),
    );
    const c = capture(ENV);
    expect(await runCli(['sign', '--org', ORG, '--key', 'fw/a', '--location', 'b.prod.1'], c.io)).toBe(0);
    const sent = JSON.parse(new TextDecoder().decode(m.lambda.commandCalls(InvokeCommand)[0]!.args[0].input.Payload as Uint8Array)) as Record<string, unknown>;
    expect(sent).toEqual({ orgId: ORG, operation: 'download', keys: ['fw/a'], location: 'b.prod.1' });
    expect(c.stdout()).toContain('via s3, location b.prod.1');
  });

  it('omits location from the request without --location (the current route), and prints where an upload lands', async () => {
    m.lambda.on(InvokeCommand).resolves(
      answer({ storage: 'default', via: 's3', location: 'default', urls: [{ key: 'fw/a', url: 'https://x/fw/a', method: 'PUT', expiresAt: '2026-01-01T00:15:00.000Z' }] }),
    );
    const c = capture(ENV);
    expect(await runCli(['sign', '--org', ORG, '--key', 'fw/a', '--upload'], c.io)).toBe(0);
    const sent = JSON.parse(new TextDecoder().decode(m.lambda.commandCalls(InvokeCommand)[0]!.args[0].input.Payload as Uint8Array)) as Record<string, unknown>;
    expect(sent).not.toHaveProperty('location');
    expect(c.stdout()).toContain('default storage, via s3, location default');
  });

  it('refuses --location with --upload, and an empty one, before calling the signer (exit 2)', async () => {
    for (const [argv, message] of [
      [['--upload', '--location', 'b.prod.1'], '--location: not with --upload'],
      [['--location', ''], '--location: must not be empty'],
    ] as const) {
      const c = capture(ENV);
      expect(await runCli(['sign', '--org', ORG, '--key', 'fw/a', ...argv], c.io)).toBe(2);
      expect(c.stderr()).toContain(message);
    }
    expect(m.lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it("names --location when the signer refuses the location, and shows LocationOffboardedError with its fix", async () => {
    expect(signerMessageWithFlags('location: no such location for this org', ['a'])).toBe('--location: no such location for this org');
    m.lambda.on(InvokeCommand).resolvesOnce(answer({ errorType: 'ValidationError', errorMessage: 'location: no such location for this org' }, true));
    const bad = capture(ENV);
    expect(await runCli(['sign', '--org', ORG, '--key', 'fw/a', '--location', 'b.nope.1'], bad.io)).toBe(2);
    expect(bad.stderr()).toContain('--location: no such location for this org');

    m.lambda.on(InvokeCommand).resolves(answer({ errorType: 'LocationOffboardedError', errorMessage: 'Location b.prod.1 was offboarded at 2026-01-05 by arn:ops' }, true));
    const gone = capture(ENV);
    expect(await runCli(['sign', '--org', ORG, '--key', 'fw/a', '--location', 'b.prod.1'], gone.io)).toBe(1);
    expect(gone.stderr()).toContain('LocationOffboardedError: Location b.prod.1 was offboarded');
    expect(gone.stderr()).toContain('fix: ');
  });

  it("status of a deactivated org shows the backend's last serving config as retired, not ACTIVE", async () => {
    const backend = { roleName: 'prod', lastConfigVersion: 2, serving: config(2) };
    m.ddb.on(GetCommand).resolves({ Item: org({ backends: { prod: backend } }) });
    m.ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': `ORG#${ORG}`, ':sk': 'LOCATION#' } })
      .resolves({ Items: [item(2, 'retired', { retiredAt: '2026-01-03T00:00:00.000Z', retiredReason: 'deactivated' })] });
    m.sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    const human = capture(ENV);
    expect(await runCli(['status', '--org', ORG], human.io)).toBe(0);
    const out = human.stdout();
    expect(out).toContain("uses Peridio's default storage (no custom backend is active)");
    expect(out).toMatch(/prod\s+retired\s+v2\s+RETIRED\s+bucket-2 \(eu-west-1\)/);
    expect(out).not.toMatch(/prod\s+serving\s+v2\s+ACTIVE/);
  });

  it('status --json carries every config; history shows retirements and offboardings even without executions', async () => {
    const backend = { roleName: 'prod', lastConfigVersion: 2, serving: config(2) };
    m.ddb.on(GetCommand).resolves({ Item: org({ active: 'prod', backends: { prod: backend } }) });
    m.ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': `ORG#${ORG}`, ':sk': 'LOCATION#' } })
      .resolves({ Items: [item(1, 'retired', { retiredAt: '2026-01-02T00:00:00.000Z', retiredReason: 'replaced', replacedBy: 'b.prod.2' }), item(2, 'serving')] });
    m.ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': `ORG#${ORG}`, ':sk': 'EVENT#' } }).resolves({
      Items: [
        {
          pk: `ORG#${ORG}`,
          sk: 'EVENT#offboard-1#Offboard#1',
          orgId: ORG,
          executionName: 'offboard-1',
          step: 'Offboard',
          attempt: 1,
          at: '2026-01-05T00:00:00.000Z',
          detail: { roleName: 'prod', locations: ['b.prod.1'], by: 'arn:aws:iam::111111111111:user/ops', reason: 'bucket closed', platformRole: 'kept', keysScheduledForDeletion: [] },
        },
      ],
    });
    m.sfn.on(ListExecutionsCommand).resolves({ executions: [] });

    const s = capture(ENV);
    expect(await runCli(['status', '--org', ORG, '--json'], s.io)).toBe(0);
    const status = JSON.parse(s.stdout()) as StatusResult;
    expect(status.backends[0]!.configs.map((c) => [c.configVersion, c.state, c.location])).toEqual([
      [1, 'retired', 'b.prod.1'],
      [2, 'serving', 'b.prod.2'],
    ]);
    const human = capture(ENV);
    expect(await runCli(['status', '--org', ORG], human.io)).toBe(0);
    expect(human.stdout()).toMatch(/v1\s+retired\s+b\.prod\.1\s+s3:\/\/bucket-1\/ \(eu-west-1\)/);
    expect(human.stdout()).toContain('(replaced by b.prod.2)');

    const h = capture(ENV);
    expect(await runCli(['history', '--org', ORG], h.io)).toBe(0);
    expect(h.stdout()).toContain(`No onboarding executions for org ${ORG}.`);
    expect(h.stdout()).toMatch(/offboarded\s+b\.prod\.1 of backend "prod" by arn:aws:iam::111111111111:user\/ops: bucket closed; platform role kept/);
    const hj = capture(ENV);
    expect(await runCli(['history', '--org', ORG, '--json'], hj.io)).toBe(0);
    expect((JSON.parse(hj.stdout()) as HistoryResult).changes).toMatchObject([{ kind: 'offboarded', locations: ['b.prod.1'] }]);
  });
});
