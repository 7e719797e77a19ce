/**
 * The authenticated front door, end to end on the local stack (issue 9.1): who may start an onboarding or
 * deactivate, and who is recorded as having asked. Abuse cases first: unsigned and wrongly signed API calls,
 * a body that names its own requester, a principal outside the bus policy putting Onboarding Requested.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { DescribeExecutionCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { postSigned } from '../../cli/api';
import { LambdaFunctionError } from '../../cli/lambda';
import { runCli } from '../../cli/main';
import { remediationFor } from '#shared/errors';
import type { OnboardResult } from '../../cli/commands/onboard';
import { capture } from './helpers/capture';
import { newOrgId, startE2eStack, type E2eStack } from './helpers/stack';

let e: E2eStack;
beforeAll(async () => {
  e = await startE2eStack();
});
afterAll(async () => {
  await e?.stop();
});

const SUPPORT_ARN = 'arn:aws:iam::111111111111:user/local-support';
// Each org gets its own customer role and bucket: two orgs may never share them (ClaimedByAnotherOrgError).
const customerRoleArn = (orgId: string) => `arn:aws:iam::222222222222:role/PeridioBinaries-${orgId.slice(0, 8)}`;
const customerBucket = (orgId: string) => `acme-firmware-${orgId.slice(0, 8)}`;
const request = (orgId: string) => ({
  orgId,
  roleName: 'prod',
  upload: { bucket: customerBucket(orgId), region: 'eu-west-1', roleArn: customerRoleArn(orgId) },
  download: { type: 's3' },
});

/** A POST to the front door, signed (or not) as told. */
async function post(path: string, body: unknown, signWith?: { accessKeyId: string; secretAccessKey: string; service?: string }) {
  const url = new URL(`${e.env.BINARY_BACKENDS_API_URL}${path}`);
  const text = JSON.stringify(body);
  let headers: Record<string, string> = { host: url.host, 'content-type': 'application/json' };
  if (signWith) {
    const signer = new SignatureV4({
      service: signWith.service ?? 'execute-api',
      region: 'us-east-1',
      credentials: { accessKeyId: signWith.accessKeyId, secretAccessKey: signWith.secretAccessKey },
      sha256: Hash.bind(null, 'sha256'),
    });
    const signed = await signer.sign(
      new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, headers, body: text }),
    );
    headers = signed.headers as Record<string, string>;
  }
  const res = await fetch(url, { method: 'POST', headers, body: text });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const support = () => ({ accessKeyId: e.env.AWS_ACCESS_KEY_ID!, secretAccessKey: e.env.AWS_SECRET_ACCESS_KEY! });

async function orgRecord(orgId: string) {
  const out = await e.platform.dynamo.send(new GetCommand({ TableName: e.env.BINARY_BACKENDS_TABLE, Key: { pk: `ORG#${orgId}`, sk: 'BACKENDS' } }));
  return out.Item as { backends?: Record<string, { inflight?: { requestedBy: string }; pending?: { requestedBy: string } }> } | undefined;
}

async function executionsOf(orgId: string) {
  const out = await e.platform.sfn.send(new ListExecutionsCommand({ stateMachineArn: e.env.BINARY_BACKENDS_STATE_MACHINE_ARN }));
  return (out.executions ?? []).filter((x) => x.name!.startsWith(orgId));
}

async function expectNothingWritten(orgId: string) {
  expect(await orgRecord(orgId)).toBeUndefined();
  expect(await executionsOf(orgId)).toEqual([]);
}

describe('Front door: the IAM-authorized API', () => {
  it('refuses an unsigned onboarding request with 403, like API Gateway, and writes nothing', async () => {
    const orgId = newOrgId();
    const res = await post('/onboardings', request(orgId));
    expect(res).toEqual({ status: 403, body: { message: 'Forbidden' } });
    await expectNothingWritten(orgId);
  });

  it('refuses requests signed with a wrong secret, an unknown key or for another service, and writes nothing', async () => {
    const orgId = newOrgId();
    const attempts = [
      { ...support(), secretAccessKey: 'not-the-secret-key-0000000000000000000000' },
      { accessKeyId: 'AKIAUNKNOWNKEY000001', secretAccessKey: support().secretAccessKey },
      { ...support(), service: 'lambda' },
    ];
    for (const signWith of attempts) {
      const res = await post('/onboardings', request(orgId), signWith);
      expect(res.status, JSON.stringify(res.body)).toBe(403);
      expect(res.body.errorType).toBeUndefined(); // refused by the gateway: no function ran
    }
    const deactivation = await post('/deactivations', { orgId, confirm: true });
    expect(deactivation.status).toBe(403);
    const offboarding = await post('/offboardings', { orgId, roleName: 'prod' });
    expect(offboarding).toEqual({ status: 403, body: { message: 'Forbidden' } });
    await expectNothingWritten(orgId);
  });

  it('refuses a body that names its own requestedBy, and writes nothing', async () => {
    const orgId = newOrgId();
    const res = await post('/onboardings', { ...request(orgId), requestedBy: 'arn:aws:iam::111111111111:user/boss' }, support());
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ errorType: 'ValidationError', errorMessage: expect.stringMatching(/^requestedBy: /) });
    await expectNothingWritten(orgId);
  });

  it('records whoever signed the request as the requester: support through the CLI, another user directly', async () => {
    const viaCli = newOrgId();
    const c = capture(e.env);
    const argv = ['onboard', '--org', viaCli, '--role-name', 'prod', '--bucket', customerBucket(viaCli), '--region', 'eu-west-1', '--role-arn', customerRoleArn(viaCli), '--json'];
    expect(await runCli(argv, c.io), c.stderr()).toBe(0);
    expect((JSON.parse(c.stdout()) as OnboardResult).requestedBy).toBe(SUPPORT_ARN);
    expect((await orgRecord(viaCli))!.backends!.prod!.inflight!.requestedBy).toBe(SUPPORT_ARN);

    const alice = e.stack.createUser('111111111111', 'alice');
    const direct = newOrgId();
    const res = await post('/onboardings', request(direct), alice);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await orgRecord(direct))!.backends!.prod!.inflight!.requestedBy).toBe(alice.arn);
    const [execution] = await executionsOf(direct);
    const described = await e.platform.sfn.send(new DescribeExecutionCommand({ executionArn: execution!.executionArn }));
    expect(JSON.parse(described.input!).requestedBy).toBe(alice.arn);
  });

  it('answers a function refusal with {errorType, errorMessage}, which the CLI turns into its remediation', async () => {
    const bad = await post('/deactivations', { orgId: 'NOT-AN-ORG', confirm: true }, support());
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ errorType: 'ValidationError', errorMessage: expect.stringContaining('orgId') });
    const refused = postSigned(e.platform, e.env.BINARY_BACKENDS_API_URL!, '/deactivations', { orgId: 'NOT-AN-ORG', confirm: true });
    await expect(refused).rejects.toBeInstanceOf(LambdaFunctionError);
    await expect(refused).rejects.toMatchObject({ errorType: 'ValidationError', remediation: remediationFor('ValidationError') });
  });

  it('tells a CLI user whose signature the gateway refused to check their credentials', async () => {
    const c = capture({ ...e.env, AWS_SECRET_ACCESS_KEY: 'not-the-secret-key-0000000000000000000000' });
    expect(await runCli(['deactivate', '--org', newOrgId(), '--confirm'], c.io)).toBe(1);
    expect(c.stderr()).toContain('InvalidSignatureException');
    expect(c.stderr()).toMatch(/fix: Check the AWS credentials/);
  });
});

describe('Front door: the event bus', () => {
  const events = (creds: { accessKeyId: string; secretAccessKey: string }) =>
    new EventBridgeClient({ region: 'us-east-1', endpoint: e.env.AWS_ENDPOINT_URL_EVENTBRIDGE, credentials: creds });
  const onboardingRequested = (orgId: string, requestedBy?: string) =>
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: e.env.BINARY_BACKENDS_EVENT_BUS,
          Source: 'peridio.binary-backends',
          DetailType: 'Onboarding Requested',
          Detail: JSON.stringify({ ...request(orgId), ...(requestedBy ? { requestedBy } : {}) }),
        },
      ],
    });

  it('refuses Onboarding Requested from a principal the bus policy does not name, starting nothing', async () => {
    const orgId = newOrgId();
    const before = e.stack.events.length;
    const intruder = e.stack.createUser('111111111111', 'intruder');
    const client = events(intruder);
    await expect(client.send(onboardingRequested(orgId))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    client.destroy();
    const customer = events({ accessKeyId: e.env.CUSTOMER_AWS_ACCESS_KEY_ID!, secretAccessKey: e.env.CUSTOMER_AWS_SECRET_ACCESS_KEY! });
    await expect(customer.send(onboardingRequested(orgId))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    customer.destroy();
    await e.stack.eventBridge.drain();
    // Workflows started by earlier tests keep emitting their own events; none of them is this request.
    expect(e.stack.events.slice(before).filter((ev) => (ev.detail as { orgId?: string } | null)?.orgId === orgId)).toEqual([]);
    await expectNothingWritten(orgId);
  });

  it('refuses events other than Onboarding Requested from a named requester', async () => {
    const client = events(support());
    const fake = new PutEventsCommand({
      Entries: [{ EventBusName: e.env.BINARY_BACKENDS_EVENT_BUS, Source: 'peridio.binary-backends', DetailType: 'Backend Activated', Detail: '{}' }],
    });
    await expect(client.send(fake)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    client.destroy();
  });

  it('records the requester of an event-started onboarding as claimed, not verified', async () => {
    const orgId = newOrgId();
    const client = events(support());
    const out = await client.send(onboardingRequested(orgId, 'arn:aws:iam::111111111111:user/boss'));
    client.destroy();
    expect(out.FailedEntryCount).toBe(0);
    await e.stack.eventBridge.drain();
    expect((await orgRecord(orgId))!.backends!.prod!.inflight!.requestedBy).toBe('claimed:arn:aws:iam::111111111111:user/boss');
  });

  it('routes Onboarding Requested only for events of the platform account (the rule\'s account filter)', async () => {
    const orgId = newOrgId();
    const event = e.stack.eventBridge.publish({
      bus: e.env.BINARY_BACKENDS_EVENT_BUS!,
      account: '222222222222',
      source: 'peridio.binary-backends',
      detailType: 'Onboarding Requested',
      detail: request(orgId),
      resources: [],
    });
    await e.stack.eventBridge.drain();
    expect(event.deliveries).toEqual([]);
    await expectNothingWritten(orgId);
  });
});

describe('Front door: a direct invoke', () => {
  it('records the requestedBy of a direct starter invoke as claimed', async () => {
    const orgId = newOrgId();
    const out = await e.platform.lambda.send(
      new InvokeCommand({
        FunctionName: e.env.BINARY_BACKENDS_STARTER_FUNCTION,
        Payload: new TextEncoder().encode(JSON.stringify({ ...request(orgId), requestedBy: 'arn:aws:iam::111111111111:user/boss' })),
      }),
    );
    expect(out.FunctionError).toBeUndefined();
    expect((await orgRecord(orgId))!.backends!.prod!.inflight!.requestedBy).toBe('claimed:arn:aws:iam::111111111111:user/boss');
  });
});
