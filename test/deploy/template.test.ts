/**
 * The deployment's shape, proven without an AWS account: `osls package` synthesizes the CloudFormation
 * template offline (in a throwaway copy of the service, with no AWS environment at all), and these tests
 * read it. They cover the function contract (docs/deploy.md "What gets deployed"), the state machine wiring, events, alarms,
 * data, and the IAM rules of issue 5, including what must NOT be allowed.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printConfig, repoRoot, synthesize, type CfnResource, type CfnTemplate, type Json, type Synthesized } from '../../deploy/synth';
import { readZip } from '../../deploy/zip';
import { dropRedundantRoleDependsOn } from '../../deploy/plugins/no-redundant-depends-on.cjs';
import { METRIC_NAMESPACE, WAIT_METRIC } from '../../functions/onboarding/check-trust/check-trust';
import { loadSignerConfig } from '../../functions/signing/handler';
import {
  SERVICE_TAG_VALUE,
  TAG_BACKEND,
  TAG_ORG,
  TAG_SERVICE,
  TAG_STAGE,
} from '../../functions/onboarding/create-platform-role/create-platform-role';
import FRONT_DOOR_ROUTES from '../../deploy/front-door-routes.json';
import { platformRoleTrustPolicy } from '../../functions/onboarding/create-platform-role/create-platform-role';
import { trustedPrincipalPatterns } from '../../functions/onboarding/create-platform-role/handler';
import { evaluate, globMatch, type PolicyDocument } from '../../local/policy';
import {
  COMMON_ENV,
  FUNCTIONS,
  allStatements,
  allows,
  denies,
  findCycle,
  functionLogicalId,
  referencedId,
  references,
  resourceText,
  resourcesOfType,
  type Statement,
} from './cfn';
import { dynamoActionsOf, smokeTableProbesOf } from './code-calls';

type EventBusModule = ((ctx: { resolveVariable: (v: string) => Promise<unknown> }) => Promise<Record<string, CfnResource>>) & {
  EMITTING_FUNCTIONS: string[];
};
const eventBusModule = createRequire(import.meta.url)('../../deploy/iam/event-bus.cjs') as EventBusModule;

const STAGE = 'dev';
const ACCOUNT = '123456789012';
/** A principal the dev synth names in the stage param onboardingRequesterArns. */
const REQUESTER = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Support_0123456789abcdef`;
/** The functions that assume platform roles (hop 1 of the chain). */
const CHAIN_WALKERS = ['checkTrust', 'verifyUpload', 'verifyDownload', 'cleanup', 'signUrl'];
const PLATFORM_ROLES = 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/binary_backend_*';
const SECRETS = 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:binary-backends/dev/cloudfront/*';
const BOUNDARY = { Ref: 'PlatformRoleBoundary' };
/** Statements allowed to use Resource "*", each commented in the YAML and explained in docs/deploy.md. */
const RESOURCE_STAR_EXCEPTIONS: Record<string, RegExp> = {
  XRayRequiresResourceStar: /^xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets)$/,
  LogsInsightsResultsRequireResourceStar: /^logs:GetQueryResults$/,
  LogDeliveryRequiresResourceStar:
    /^logs:(CreateLogDelivery|GetLogDelivery|UpdateLogDelivery|DeleteLogDelivery|ListLogDeliveries|PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$/,
};

let synth: Synthesized;
let t: CfnTemplate;
let prod: Json;
let statements: Statement[];

beforeAll(async () => {
  [synth, prod] = await Promise.all([
    synthesize({ stage: STAGE, params: { onboardingRequesterArns: REQUESTER } }),
    printConfig({ stage: 'prod' }),
  ]);
  t = synth.template;
  statements = allStatements(t);
}, 600_000);

afterAll(() => synth?.dispose());

const fnResource = (key: string) => t.Resources[functionLogicalId(key)]!;
const roleOf = (key: string) => referencedId(fnResource(key).Properties.Role)!;
const roleStatements = (roleId: string) => statements.filter((s) => s.owner === roleId);
const functionRoleIds = () => FUNCTIONS.map((f) => roleOf(f.key));

/** A template value with its `Fn::Sub` pseudo parameters (and `Fn::Join`s of them) resolved for ACCOUNT in us-east-1. */
function resolved(v: Json): Json {
  if (Array.isArray(v)) return v.map(resolved);
  if (v && typeof v === 'object') {
    if ('Fn::Sub' in v && typeof v['Fn::Sub'] === 'string') {
      return v['Fn::Sub'].replaceAll('${AWS::Partition}', 'aws').replaceAll('${AWS::AccountId}', ACCOUNT).replaceAll('${AWS::Region}', 'us-east-1');
    }
    if ('Fn::Join' in v) return (resolved(v['Fn::Join'][1]) as string[]).join(v['Fn::Join'][0]);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolved(x)]));
  }
  return v;
}
/** The platform roles' trusted principals, as CreatePlatformRole's handler reads them. */
const trustedPrincipals = (): string[] =>
  trustedPrincipalPatterns(resolved(fnResource('createPlatformRole').Properties.Environment.Variables.PLATFORM_ROLE_TRUSTED_PRINCIPAL_PATTERN) as string);

describe('Deploy: template integrity', () => {
  it('references only resources, conditions and pseudo parameters that exist', () => {
    const known = new Set([...Object.keys(t.Resources), ...Object.keys(t.Conditions ?? {}), ...Object.keys(t.Parameters ?? {})]);
    const sections = { ...t.Resources, ...Object.fromEntries(Object.entries(t.Outputs).map(([k, v]) => [`Output ${k}`, v])) };
    for (const [id, value] of Object.entries(sections)) {
      for (const ref of references(value)) expect(known.has(ref), `${id} references ${ref}`).toBe(true);
    }
    for (const [id, r] of Object.entries(t.Resources)) {
      if (r.Condition) expect(t.Conditions, id).toHaveProperty(r.Condition);
    }
  });

  it('has no dependency cycle (CloudFormation would refuse the stack)', () => {
    expect(findCycle(t)).toBeUndefined();
  });

  it('has no condition on two literals: osls resolves stage params first, so CloudFormation would see a constant', () => {
    const literal = (v: Json) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
    const equalsIn = (v: Json): Json[] =>
      Array.isArray(v) ? v.flatMap(equalsIn)
      : v && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => (k === 'Fn::Equals' ? [x, ...equalsIn(x)] : equalsIn(x)))
      : [];
    for (const [name, cond] of Object.entries(t.Conditions ?? {})) {
      for (const [a, b] of equalsIn(cond)) expect(literal(a) && literal(b), name).toBe(false);
    }
  });

  it('gives no function a DependsOn on the role its Fn::GetAtt already orders it after (cfn-lint W3005)', () => {
    for (const f of FUNCTIONS) {
      const fn = fnResource(f.key);
      expect([fn.DependsOn ?? []].flat(), f.key).not.toContain(roleOf(f.key));
    }
    // The plugin drops only that entry.
    const template = {
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', DependsOn: ['FnLogGroup', 'FnRole'], Properties: { Role: { 'Fn::GetAtt': ['FnRole', 'Arn'] } } },
        Other: { Type: 'AWS::Lambda::Function', DependsOn: ['FnRole'], Properties: { Role: 'arn:aws:iam::1:role/x' } },
      },
    };
    dropRedundantRoleDependsOn(template);
    expect(template.Resources.Fn.DependsOn).toEqual(['FnLogGroup']);
    expect(template.Resources.Other.DependsOn).toEqual(['FnRole']);
  });
});

describe('Deploy: functions', () => {
  it('defines exactly the functions of the build plan', () => {
    const defined = resourcesOfType(t, 'AWS::Lambda::Function').map(([id]) => id).sort();
    expect(defined).toEqual(FUNCTIONS.map((f) => functionLogicalId(f.key)).sort());
  });

  it.each(FUNCTIONS)('$key runs on nodejs24.x, arm64, with its handler and name', (f) => {
    const p = fnResource(f.key).Properties;
    expect(p.Runtime).toBe('nodejs24.x');
    expect(p.Architectures).toEqual(['arm64']);
    expect(p.Handler).toBe(f.handler);
    expect(p.FunctionName).toBe(`binary-backends-${STAGE}-${f.suffix}`);
    expect(p.Timeout).toBeGreaterThan(0);
    expect(p.MemorySize).toBeGreaterThanOrEqual(128);
  });

  it.each(FUNCTIONS)('$key gets every env var the plan names', (f) => {
    const vars = fnResource(f.key).Properties.Environment.Variables as Record<string, Json>;
    for (const name of [...COMMON_ENV, ...f.env]) expect(vars, name).toHaveProperty(name);
    // Reserved by Lambda: setting it would fail the deployment.
    expect(vars).not.toHaveProperty('AWS_REGION');
    expect(vars.NODE_OPTIONS).toContain('--enable-source-maps');
  });

  it('points the functions at the table, the state machine, the boundary and the default-storage signer role', () => {
    expect(fnResource('starter').Properties.Environment.Variables.TABLE_NAME).toEqual({ Ref: 'BackendsTable' });
    expect(fnResource('starter').Properties.Environment.Variables.STATE_MACHINE_ARN).toEqual({ Ref: 'OnboardingStateMachine' });
    const cpr = fnResource('createPlatformRole').Properties.Environment.Variables;
    expect(cpr.PLATFORM_ROLE_PERMISSIONS_BOUNDARY_ARN).toEqual(BOUNDARY);
    expect(cpr.PLATFORM_ACCOUNT_ID).toEqual({ Ref: 'AWS::AccountId' });
    expect(trustedPrincipals()).toEqual(
      CHAIN_WALKERS.map((k) => `arn:aws:iam::${ACCOUNT}:role/binary-backends-${STAGE}-${FUNCTIONS.find((f) => f.key === k)!.suffix}`),
    );
    expect(cpr.SERVICE_STAGE).toBe(STAGE);
    const signer = fnResource('signUrl').Properties.Environment.Variables;
    expect(signer.DEFAULT_SIGNER_ROLE_ARN).toEqual({ 'Fn::GetAtt': ['DefaultStorageSignerRole', 'Arn'] });
  });

  it('configures the signer with values its own config parser accepts', () => {
    const vars = fnResource('signUrl').Properties.Environment.Variables as Record<string, Json>;
    // Intrinsics (Ref, GetAtt) resolve at deploy time; stand in plausible strings for them.
    const env = Object.fromEntries(
      Object.entries({ ...vars, AWS_REGION: 'us-east-1' }).map(([k, v]) => [k, typeof v === 'string' ? v : `resolved-${k}`]),
    );
    const config = loadSignerConfig(env);
    expect(config.DEFAULT_BUCKET).toBe(`peridio-binaries-${STAGE}`);
    expect(config.CREDENTIAL_REFRESH_THRESHOLD_SECONDS).toBe(900);
  });

  it('zips one minified ESM bundle with a source map per function, and each bundle loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'binary-backends-bundles-'));
    try {
      const handlers: string[] = [];
      for (const f of FUNCTIONS) {
        const zip = synth.zips[f.key];
        expect(zip, `${f.key}.zip`).toBeDefined();
        const entries = readZip(zip!);
        const module = `${f.handler.slice(0, f.handler.lastIndexOf('.'))}.mjs`;
        expect(entries.map((e) => e.name).sort()).toEqual([module, `${module}.map`]);
        for (const e of entries) {
          const out = join(dir, f.key, e.name);
          mkdirSync(dirname(out), { recursive: true });
          writeFileSync(out, e.read());
        }
        handlers.push(join(dir, f.key, module));
      }
      // One Node process imports every bundle as Lambda would (ESM, no node_modules next to it): this catches
      // a CommonJS dependency's require() of a built-in that ESM bundles cannot do without the banner.
      const script = `for (const f of JSON.parse(process.argv[1])) { const m = await import(f); if (typeof m.handler !== 'function') throw new Error(f + ' exports no handler'); }`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(handlers)], {
        cwd: dir,
        env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Parsing twelve ~1 MB bundles is CPU-bound: generous for a loaded CI machine.
  }, 120_000);
});

describe('Deploy: state machine', () => {
  const asl = () => JSON.parse(readFileSync(join(repoRoot, 'statemachine/onboarding.asl.json'), 'utf8'));
  const sm = () => t.Resources.OnboardingStateMachine!;

  /** The deployed definition with each `${param}` of its Fn::Sub replaced by the logical ID it stands for. */
  function deployedDefinition(): Json {
    const def = sm().Properties.DefinitionString['Fn::Sub'];
    let [text, params] = Array.isArray(def) ? def : [def, {}];
    for (const [k, v] of Object.entries(params as Record<string, Json>)) text = text.split(`\${${k}}`).join(`GETATT:${referencedId(v)}`);
    // serverless-step-functions may inline a function's static ARN instead of a GetAtt.
    text = text.replace(/arn:\$\{AWS::Partition\}:lambda:\$\{AWS::Region\}:\$\{AWS::AccountId\}:function:([A-Za-z0-9_-]+)/g, 'FUNCTION:$1');
    return JSON.parse(text);
  }

  function taskStates(states: Record<string, Json>): [string, Json][] {
    return Object.entries(states).flatMap(([name, s]) =>
      s.Type === 'Task' ? [[name, s] as [string, Json]]
      : s.Type === 'Parallel' ? s.Branches.flatMap((b: Json) => taskStates(b.States))
      : s.Type === 'Map' ? taskStates((s.ItemProcessor ?? s.Iterator).States)
      : [],
    );
  }

  /** What names a Task's function: its Resource, or for `lambda:invoke.waitForTaskToken` its Parameters.FunctionName. */
  function functionRef(state: Json): Json {
    return typeof state.Resource === 'string' && state.Resource.endsWith(':lambda:invoke.waitForTaskToken') ? state.Parameters.FunctionName : state.Resource;
  }

  /** The function logical ID a deployed Task resource points at. */
  function taskFunctionId(resource: string): string | undefined {
    if (resource.startsWith('GETATT:')) return resource.slice('GETATT:'.length);
    if (resource.startsWith('FUNCTION:')) {
      const name = resource.slice('FUNCTION:'.length);
      return resourcesOfType(t, 'AWS::Lambda::Function').find(([, r]) => r.Properties.FunctionName === name)?.[0];
    }
    return undefined;
  }

  it('is built from statemachine/onboarding.asl.json with the same states', () => {
    expect(sm().Properties.StateMachineName).toBe(`binary-backends-${STAGE}-onboarding`);
    expect(sm().Properties.StateMachineType).toBe('STANDARD');
    expect(Object.keys(deployedDefinition().States)).toEqual(Object.keys(asl().States));
  });

  it('points every Task at a function defined in the template, the one the ASL names', () => {
    const tasks = taskStates(deployedDefinition().States);
    expect(tasks.length).toBeGreaterThan(0);
    const source = Object.fromEntries(taskStates(asl().States));
    for (const [name, state] of tasks) {
      const id = taskFunctionId(functionRef(state));
      expect(id, `${name} -> ${functionRef(state)}`).toBeDefined();
      expect(t.Resources[id!]?.Type, name).toBe('AWS::Lambda::Function');
      expect(id, name).toBe(functionLogicalId(functionRef(source[name])['Fn::GetAtt'][0]));
    }
  });

  it('gives every Task a timeout no shorter than its function timeout (the Lambda times out first)', () => {
    for (const [name, state] of taskStates(deployedDefinition().States)) {
      const fn = t.Resources[taskFunctionId(functionRef(state))!]!;
      // A task-token wait is bounded by its TimeoutSecondsPath (the approval wait, days), not the function.
      if (state.TimeoutSecondsPath) continue;
      expect(state.TimeoutSeconds, name).toBeGreaterThanOrEqual(fn.Properties.Timeout);
    }
  });

  it('may invoke exactly its Task functions', () => {
    const taskIds = new Set(taskStates(deployedDefinition().States).map(([, s]) => taskFunctionId(functionRef(s))));
    const roleId = referencedId(sm().Properties.RoleArn)!;
    const invoke = allows(roleStatements(roleId), 'lambda:InvokeFunction');
    const targets = new Set(invoke.flatMap((s) => s.Resource.map(referencedId)));
    expect(targets).toEqual(taskIds);
  });

  it('invokes RequestApproval with waitForTaskToken, its timeout from the plan, and gives record-config the stage\'s approval policy', () => {
    const request = deployedDefinition().States.RequestApproval;
    expect(request.Resource).toMatch(/^arn:(\$\{AWS::Partition\}|aws):states:::lambda:invoke\.waitForTaskToken$/);
    expect(request.Parameters.Payload).toEqual({ 'taskToken.$': '$$.Task.Token', 'input.$': '$' });
    expect(request.TimeoutSecondsPath).toBe('$.approval.timeoutSeconds');
    const vars = fnResource('recordConfig').Properties.Environment.Variables;
    expect(vars).toMatchObject({ APPROVAL_POLICY: 'when-active', APPROVAL_TIMEOUT_SECONDS: '259200' });
    expect(fnResource('decideApproval').Properties.Environment.Variables.STATE_MACHINE_ARN).toEqual({ Ref: 'OnboardingStateMachine' });
  });

  it('turns X-Ray on for prod only, and grants it only where it is on (decided at package time)', () => {
    const xray = (s: Statement) => s.Action.some((a) => a.startsWith('xray:'));
    expect(sm().Properties.TracingConfiguration).toEqual({ Enabled: false });
    expect(statements.filter(xray)).toEqual([]);
    expect(prod.stepFunctions.stateMachines.onboarding.tracingConfig.enabled).toBe(true);
    const prodResources = prod.resources.Resources as Record<string, Json>;
    const prodXray = Object.entries(prodResources).filter(([, r]) => JSON.stringify(r).includes('xray:PutTraceSegments'));
    // Every function role, and the state machine's role through its own policy.
    expect(prodXray.map(([id]) => id).sort()).toEqual([...FUNCTIONS.map((f) => `${f.key[0]!.toUpperCase()}${f.key.slice(1)}Role`), 'OnboardingStateMachineXRayPolicy'].sort());
    expect(prodResources.OnboardingStateMachineXRayPolicy.Properties.RoleName).toEqual({ Ref: 'OnboardingStateMachineRole' });
  });

  it('logs to CloudWatch without execution data, into a log group with retention', () => {
    const logging = sm().Properties.LoggingConfiguration;
    expect(logging.IncludeExecutionData).toBe(false);
    expect(logging.Level).toBe('ALL');
    const groupId = referencedId(logging.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn)!;
    expect(t.Resources[groupId]!.Type).toBe('AWS::Logs::LogGroup');
    expect(t.Resources[groupId]!.Properties.RetentionInDays).toBeGreaterThan(0);
  });
});

describe('Deploy: EventBridge rules', () => {
  const rules = () => resourcesOfType(t, 'AWS::Events::Rule').map(([, r]) => r.Properties);
  const targetId = (rule: Json) => referencedId(rule.Targets[0].Arn);

  it('routes Onboarding Requested to the starter, the same entry the CLI uses', () => {
    const rule = rules().find((r) => r.EventPattern['detail-type']?.includes('Onboarding Requested'));
    expect(rule).toBeDefined();
    expect(rule.EventPattern.source).toEqual(['peridio.binary-backends']);
    expect(targetId(rule)).toBe(functionLogicalId('starter'));
    expect(rule.Targets[0].DeadLetterConfig).toBeDefined();
  });

  it('routes this state machine\'s ABORTED, TIMED_OUT and FAILED executions to execution-status-change', () => {
    const rule = rules().find((r) => r.EventPattern['detail-type']?.includes('Step Functions Execution Status Change'));
    expect(rule).toBeDefined();
    expect(rule.EventBusName).toBeUndefined(); // Step Functions only sends to the default bus.
    expect(rule.EventPattern.source).toEqual(['aws.states']);
    expect([...rule.EventPattern.detail.status].sort()).toEqual(['ABORTED', 'FAILED', 'TIMED_OUT']);
    expect(rule.EventPattern.detail.stateMachineArn).toEqual([{ Ref: 'OnboardingStateMachine' }]);
    expect(targetId(rule)).toBe(functionLogicalId('executionStatusChange'));
  });

  it.each(['starter', 'executionStatusChange'])('dead-letters %s\'s failed async invocations', (key) => {
    const config = resourcesOfType(t, 'AWS::Lambda::EventInvokeConfig').find(
      ([, r]) => referencedId(r.Properties.FunctionName) === functionLogicalId(key),
    );
    expect(config).toBeDefined();
    const queue = config![1].Properties.DestinationConfig.OnFailure.Destination;
    expect(referencedId(queue)).toBe('EventsDeadLetterQueue');
    const send = allows(roleStatements(roleOf(key)), 'sqs:SendMessage');
    expect(send.flatMap((s) => s.Resource.map(referencedId))).toEqual(['EventsDeadLetterQueue']);
  });

  it('lets EventBridge invoke the two targets', () => {
    const permitted = resourcesOfType(t, 'AWS::Lambda::Permission')
      .filter(([, r]) => r.Properties.Principal === 'events.amazonaws.com')
      .map(([, r]) => referencedId(r.Properties.FunctionName));
    expect(permitted.sort()).toEqual([functionLogicalId('executionStatusChange'), functionLogicalId('starter')].sort());
  });
});

describe('Deploy: alarms and logs', () => {
  const alarms = () => resourcesOfType(t, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
  const find = (namespace: string, metric: string) => alarms().find((a) => a.Namespace === namespace && a.MetricName === metric);
  const dim = (alarm: Json, name: string) => alarm.Dimensions.find((d: Json) => d.Name === name)?.Value;

  it.each(['ExecutionsFailed', 'ExecutionsTimedOut'])('alarms on %s of the onboarding state machine', (metric) => {
    const alarm = find('AWS/States', metric);
    expect(alarm).toBeDefined();
    expect(dim(alarm, 'StateMachineArn')).toEqual({ Ref: 'OnboardingStateMachine' });
  });

  it.each(['Errors', 'Throttles'])('alarms on the signer\'s %s', (metric) => {
    const alarm = find('AWS/Lambda', metric);
    expect(alarm).toBeDefined();
    expect(dim(alarm, 'FunctionName')).toEqual({ Ref: functionLogicalId('signUrl') });
  });

  it('alarms on trust waits older than the threshold, from the metric CheckTrust emits', () => {
    const alarm = find(METRIC_NAMESPACE, WAIT_METRIC);
    expect(alarm).toBeDefined();
    // CheckTrust's EMF line declares no dimensions (`Dimensions: [[]]`); an alarm with any would never fire.
    expect(alarm.Dimensions ?? []).toEqual([]);
    expect(alarm.Statistic).toBe('Maximum');
    expect(alarm.Threshold).toBeGreaterThan(0);
    expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
  });

  it('sends alarm actions to the AlarmTopicArn stack parameter, none while it is empty (the default)', () => {
    expect(t.Parameters!.AlarmTopicArn).toMatchObject({ Type: 'String', Default: '' });
    expect(t.Conditions!.HasAlarmTopic).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }] });
    const actions = { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] };
    expect(alarms().length).toBeGreaterThan(0);
    for (const a of alarms()) expect(a.AlarmActions, a.AlarmName).toEqual(actions);
  });

  it('sets a retention on every log group', () => {
    const groups = resourcesOfType(t, 'AWS::Logs::LogGroup');
    expect(groups.length).toBe(FUNCTIONS.length + 2); // + the state machine's and the front door's access log
    for (const [id, g] of groups) expect(g.Properties.RetentionInDays, id).toBeGreaterThan(0);
  });
});

describe('Deploy: data', () => {
  it('keeps the backends in one on-demand table with pk/sk strings and point-in-time recovery', () => {
    const table = t.Resources.BackendsTable!.Properties;
    expect(table.BillingMode).toBe('PAY_PER_REQUEST');
    expect(table.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(table.AttributeDefinitions).toEqual([
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ]);
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });

  it('protects the prod table from deletion, and leaves dev removable', () => {
    expect(t.Resources.BackendsTable!.Properties.DeletionProtectionEnabled).toBe(false);
    // `osls print` shows the resolved config: the resources files merged into one object.
    const prodTable = prod.resources.Resources.BackendsTable;
    expect(prodTable.Properties.DeletionProtectionEnabled).toBe(true);
    expect(prodTable.DeletionPolicy).toBe('Retain');
  });

  it('sends undeliverable events to a dead-letter queue only this stage\'s rules can write to', () => {
    const policy = t.Resources.EventsDeadLetterQueuePolicy!.Properties.PolicyDocument.Statement[0];
    expect(policy.Principal).toEqual({ Service: 'events.amazonaws.com' });
    expect(resourceText(policy.Condition.ArnLike['aws:SourceArn'])).toContain(`rule/*binary-backends-${STAGE}-`);
  });
});

describe('Deploy: IAM', () => {
  it('gives every function its own role, named like the function so the platform roles\' trust admits it', () => {
    const ids = functionRoleIds();
    expect(new Set(ids).size).toBe(FUNCTIONS.length);
    for (const f of FUNCTIONS) {
      const role = t.Resources[roleOf(f.key)]!;
      expect(role.Type).toBe('AWS::IAM::Role');
      expect(role.Properties.RoleName).toBe(`binary-backends-${STAGE}-${f.suffix}`);
      expect(role.Properties.RoleName.length).toBeLessThanOrEqual(64);
      expect(role.Properties.Path ?? '/').toBe('/');
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
      ]);
    }
  });

  it('lets only the chain-walking function roles match the platform roles\' trusted principals', () => {
    const arnOf = (r: Json) => `arn:aws:iam::${ACCOUNT}:role${r.Properties.Path ?? '/'}${r.Properties.RoleName}`;
    const matching = resourcesOfType(t, 'AWS::IAM::Role')
      .filter(([, r]) => trustedPrincipals().some((p) => globMatch(p, arnOf(r))))
      .map(([id]) => id)
      .sort();
    expect(matching).toEqual(CHAIN_WALKERS.map(roleOf).sort());
  });

  it('trusts no role of another stage whose name shares this stage\'s prefix (dev vs dev-eu)', () => {
    const trust = JSON.parse(platformRoleTrustPolicy('aws', ACCOUNT, trustedPrincipals())) as PolicyDocument;
    const assume = (principalArn: string) =>
      evaluate(trust, 'sts:AssumeRole', { principal: (p) => p === `arn:aws:iam::${ACCOUNT}:root`, context: { 'aws:PrincipalArn': principalArn } });
    expect(assume(`arn:aws:iam::${ACCOUNT}:role/binary-backends-${STAGE}-check-trust`)).toBe('allow');
    for (const other of ['dev-eu', 'dev2', 'dev-check']) {
      for (const suffix of ['check-trust', 'sign-url']) {
        expect(assume(`arn:aws:iam::${ACCOUNT}:role/binary-backends-${other}-${suffix}`), `${other}-${suffix}`).toBe('implicit');
      }
    }
    // Nor a function of this stage that never walks the chain.
    expect(assume(`arn:aws:iam::${ACCOUNT}:role/binary-backends-${STAGE}-starter`)).toBe('implicit');
  });

  it('has no Action "*" (nor a whole-service wildcard), no NotAction and no NotResource', () => {
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      for (const a of s.Action) {
        expect(a, `${s.owner} ${s.Sid}`).not.toBe('*');
        expect(a, `${s.owner} ${s.Sid}`).not.toMatch(/^[a-z0-9-]+:\*$/i);
      }
      expect(s.NotAction, s.owner).toBeUndefined();
      expect(s.NotResource, s.owner).toBeUndefined();
    }
  });

  it('uses Resource "*" only for the documented exceptions, where AWS has no resource-level permissions', () => {
    const star = statements.filter((s) => s.Resource.includes('*'));
    expect(star.length).toBeGreaterThan(0); // the state machine's log delivery at least
    const doc = readFileSync(join(repoRoot, 'docs/deploy.md'), 'utf8');
    for (const s of star) {
      const rule = RESOURCE_STAR_EXCEPTIONS[s.Sid ?? ''];
      expect(rule, `${s.owner}: ${s.Sid ?? '(no Sid)'} uses Resource "*"`).toBeDefined();
      expect(s.Effect).toBe('Allow');
      for (const a of s.Action) expect(a, `${s.owner} ${s.Sid}`).toMatch(rule!);
      expect(doc, `docs/deploy.md explains ${s.Sid}`).toContain(s.Sid);
    }
  });

  it('gives the signer no IAM action at all', () => {
    const signer = roleStatements(roleOf('signUrl')).filter((s) => s.Effect === 'Allow');
    for (const s of signer) for (const a of s.Action) expect(a.toLowerCase().startsWith('iam:'), a).toBe(false);
  });

  it('allows iam:CreateRole only on binary_backend_* roles, only with the boundary, only to CreatePlatformRole', () => {
    const create = allows(statements, 'iam:CreateRole');
    expect(create.map((s) => s.owner)).toEqual([roleOf('createPlatformRole')]);
    for (const s of create) {
      expect(s.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
      expect(s.Condition.StringEquals['iam:PermissionsBoundary']).toEqual(BOUNDARY);
    }
  });

  it('requires CreatePlatformRole\'s own tags on roles it creates or adopts', () => {
    const [create] = allows(statements, 'iam:CreateRole');
    expect(create!.Condition.StringEquals).toMatchObject({
      [`aws:RequestTag/${TAG_SERVICE}`]: SERVICE_TAG_VALUE,
      [`aws:RequestTag/${TAG_STAGE}`]: STAGE,
    });
    const update = allows(statements, 'iam:UpdateAssumeRolePolicy');
    expect(update.map((s) => s.owner)).toEqual([roleOf('createPlatformRole')]);
    expect(update[0]!.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
    expect(update[0]!.Condition.StringEquals).toEqual({
      [`aws:ResourceTag/${TAG_SERVICE}`]: SERVICE_TAG_VALUE,
      [`aws:ResourceTag/${TAG_STAGE}`]: STAGE,
    });
    const tag = allows(statements, 'iam:TagRole');
    expect(tag.map((s) => s.owner)).toEqual([roleOf('createPlatformRole')]);
    expect([...tag[0]!.Condition['ForAllValues:StringEquals']['aws:TagKeys']].sort()).toEqual(
      [TAG_SERVICE, TAG_ORG, TAG_BACKEND, TAG_STAGE].sort(),
    );
  });

  it('allows iam:PutRolePolicy only on binary_backend_* roles that carry the boundary', () => {
    const put = allows(statements, 'iam:PutRolePolicy');
    expect(put.length).toBeGreaterThan(0);
    for (const s of put) {
      expect([roleOf('createPlatformRole'), roleOf('activate'), roleOf('offboard')]).toContain(s.owner);
      expect(s.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
      expect(s.Condition.StringEquals['iam:PermissionsBoundary']).toEqual(BOUNDARY);
    }
  });

  it('touches IAM only in CreatePlatformRole, Activate and Offboard, and only binary_backend_* roles', () => {
    const iamStatements = statements.filter((s) => s.Effect === 'Allow' && s.Action.some((a) => a.toLowerCase().startsWith('iam:')));
    for (const s of iamStatements) {
      expect([roleOf('createPlatformRole'), roleOf('activate'), roleOf('offboard')], `${s.owner} ${s.Sid}`).toContain(s.owner);
      expect(s.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
    }
  });

  it('lets no one remove or change a permissions boundary or attach policies, and no one but Offboard delete a role', () => {
    for (const action of [
      'iam:DeleteRolePermissionsBoundary',
      'iam:PutRolePermissionsBoundary',
      'iam:AttachRolePolicy',
      'iam:DetachRolePolicy',
      'iam:PassRole',
      'iam:CreatePolicyVersion',
    ]) {
      expect(allows(statements, action), action).toEqual([]);
    }
    for (const roleId of functionRoleIds()) {
      const denied = denies(roleStatements(roleId), 'iam:PutRolePermissionsBoundary');
      expect(denied.length, roleId).toBe(1);
      expect(denies(roleStatements(roleId), 'iam:DeleteRolePermissionsBoundary').length, roleId).toBe(1);
      const deleteDenied = denies(roleStatements(roleId), 'iam:DeleteRole');
      if (roleId === roleOf('offboard')) continue;
      // Every other role: an unconditional Deny of DeleteRole on every role.
      expect(deleteDenied.map((d) => [d.Resource.map(resourceText), d.Condition]), roleId).toEqual([[['arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*'], undefined]]);
    }
  });

  it('lets only Offboard delete roles and their inline policies: binary_backend_* roles of this service and stage', () => {
    const del = allows(statements, 'iam:DeleteRole');
    expect(del.map((s) => s.owner)).toEqual([roleOf('offboard')]);
    expect(del[0]!.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
    expect(del[0]!.Condition).toEqual({ StringEquals: { [`aws:ResourceTag/${TAG_SERVICE}`]: SERVICE_TAG_VALUE, [`aws:ResourceTag/${TAG_STAGE}`]: STAGE } });
    const delPolicy = allows(statements, 'iam:DeleteRolePolicy');
    expect(delPolicy.map((s) => s.owner)).toEqual([roleOf('offboard')]);
    expect(delPolicy[0]!.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
    expect(delPolicy[0]!.Condition.StringEquals['iam:PermissionsBoundary']).toEqual(BOUNDARY);
    const list = allows(statements, 'iam:ListRolePolicies');
    expect(list.map((s) => [s.owner, s.Resource.map(resourceText)])).toEqual([[roleOf('offboard'), [PLATFORM_ROLES]]]);
    // Its own Deny: DeleteRole on any role whose service or stage tag is not ours (a missing tag does not match).
    const denied = denies(roleStatements(roleOf('offboard')), 'iam:DeleteRole');
    expect(denied.map((d) => [d.Resource.map(resourceText), d.Condition]).sort()).toEqual(
      [
        [['arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*'], { StringNotEquals: { [`aws:ResourceTag/${TAG_SERVICE}`]: SERVICE_TAG_VALUE } }],
        [['arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*'], { StringNotEquals: { [`aws:ResourceTag/${TAG_STAGE}`]: STAGE } }],
      ].sort(),
    );
  });

  it('lets only Offboard delete secrets, only the stage\'s CloudFront key secrets', () => {
    const del = allows(statements, 'secretsmanager:DeleteSecret');
    expect(del.map((s) => [s.owner, s.Resource.map(resourceText)])).toEqual([[roleOf('offboard'), [SECRETS]]]);
  });

  it('bounds platform roles to sts:AssumeRole, never into the platform\'s own account', () => {
    const boundary = statements.filter((s) => s.owner === 'PlatformRoleBoundary');
    expect(boundary.length).toBeGreaterThan(0);
    for (const s of boundary) expect(s.Action).toEqual(['sts:AssumeRole']);
    expect(boundary.filter((s) => s.Effect === 'Allow').length).toBeGreaterThan(0);
    const denied = boundary.filter((s) => s.Effect === 'Deny');
    expect(denied).toHaveLength(1);
    expect(denied[0]!.Resource.map(resourceText)).toEqual(['arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*']);
    expect(denied[0]!.Condition).toBeUndefined();
  });

  it('lets only the chain-walking functions assume platform roles, and only the signer the default-storage role', () => {
    const assume = allows(statements, 'sts:AssumeRole');
    const owners = new Set(assume.map((s) => s.owner));
    const chainWalkers = ['checkTrust', 'verifyUpload', 'verifyDownload', 'cleanup', 'signUrl'].map(roleOf);
    expect([...owners].sort()).toEqual(['PlatformRoleBoundary', ...chainWalkers].sort());
    for (const s of assume.filter((x) => x.owner !== 'PlatformRoleBoundary')) {
      for (const r of s.Resource) {
        const ok = resourceText(r) === PLATFORM_ROLES || (s.owner === roleOf('signUrl') && referencedId(r) === 'DefaultStorageSignerRole');
        expect(ok, `${s.owner}: ${JSON.stringify(r)}`).toBe(true);
      }
    }
  });

  it('lets only the sign-url function assume the default-storage signer role, which reaches only orgs/*', () => {
    const role = t.Resources.DefaultStorageSignerRole!.Properties;
    expect(`${role.Path}${role.RoleName}`).not.toMatch(new RegExp(`^/binary-backends-${STAGE}-`));
    const [trust, ...more] = role.AssumeRolePolicyDocument.Statement;
    expect(more).toEqual([]);
    expect(resourceText(trust.Principal.AWS)).toBe('arn:${AWS::Partition}:iam::${AWS::AccountId}:root');
    expect(resourceText(trust.Condition.ArnEquals['aws:PrincipalArn'])).toBe(
      `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/binary-backends-${STAGE}-sign-url`,
    );
    const own = statements.filter((s) => s.owner === 'DefaultStorageSignerRole' && s.Action.some((a) => a.startsWith('s3:')));
    for (const s of own) for (const r of s.Resource) expect(resourceText(r)).toMatch(/^arn:\$\{AWS::Partition\}:s3:::[a-z0-9.-]+\/orgs\/\*$/);
    const actions = own.flatMap((s) => s.Action).sort();
    expect(actions).toEqual(['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject']);
  });

  it('lets the default-storage signer role use the default bucket\'s KMS key through S3 only, when one is configured', () => {
    expect(t.Parameters!.DefaultBucketKmsKeyArn).toMatchObject({ Type: 'String', Default: '' });
    expect(t.Conditions!.HasDefaultBucketKmsKey).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'DefaultBucketKmsKeyArn' }, ''] }] });
    const withKey = allStatements(t, { HasDefaultBucketKmsKey: true }).filter((s) => s.Action.some((a) => a.startsWith('kms:')));
    expect(withKey.map((s) => [s.owner, s.Action.sort(), s.Resource])).toEqual([
      ['DefaultStorageSignerRole', ['kms:Decrypt', 'kms:GenerateDataKey'], [{ Ref: 'DefaultBucketKmsKeyArn' }]],
    ]);
    expect(withKey[0]!.Condition).toEqual({ StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } });
    const without = allStatements(t, { HasDefaultBucketKmsKey: false }).filter((s) => s.Action.some((a) => a.startsWith('kms:')));
    expect(without).toEqual([]);
  });

  it('gives each function exactly the DynamoDB actions its code calls (none to Cleanup)', () => {
    for (const f of FUNCTIONS) {
      const granted = roleStatements(roleOf(f.key))
        .filter((s) => s.Effect === 'Allow')
        .flatMap((s) => s.Action)
        .filter((a) => a.startsWith('dynamodb:'))
        .map((a) => a.slice('dynamodb:'.length))
        .sort();
      const handlerFile = f.handler.replace(/\.handler$/, '.ts');
      expect(granted, f.key).toEqual(dynamoActionsOf(handlerFile));
      // `binary-backends smoke` exercises each of them.
      expect(smokeTableProbesOf(handlerFile), `${f.key} smoke probes`).toEqual(granted);
    }
    expect(dynamoActionsOf('functions/onboarding/cleanup/handler.ts')).toEqual([]);
  });

  it('lets only the signer and VerifyDownload read CloudFront key secrets, under the stage prefix', () => {
    const read = allows(statements, 'secretsmanager:GetSecretValue');
    expect([...new Set(read.map((s) => s.owner))].sort()).toEqual([roleOf('signUrl'), roleOf('verifyDownload')].sort());
    for (const s of read) expect(s.Resource.map(resourceText)).toEqual([SECRETS]);
  });

  it('puts events only with source peridio.binary-backends', () => {
    const put = allows(statements, 'events:PutEvents');
    expect(put.length).toBeGreaterThan(0);
    for (const s of put) expect(s.Condition?.StringEquals?.['events:source'], s.owner).toBe('peridio.binary-backends');
  });

  it('lets only decideApproval end a task-token wait (SendTaskSuccess/Failure), only on this state machine', () => {
    const sendTask = ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'];
    const holders = new Set(sendTask.flatMap((a) => allows(statements, a).map((s) => s.owner)));
    expect([...holders]).toEqual([roleOf('decideApproval')]);
    for (const s of allows(statements, 'states:SendTaskSuccess')) {
      expect(s.Resource.map(resourceText)).toEqual(['arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:binary-backends-dev-onboarding']);
    }
    // RequestApproval records the token but cannot complete its own wait.
    expect(roleStatements(roleOf('requestApproval')).flatMap((s) => s.Action).filter((a) => a.startsWith('states:'))).toEqual([]);
  });

  it('publishes the support, operators and signer-invoke policies as stack outputs', () => {
    expect(t.Outputs.SupportPolicyArn!.Value).toEqual({ Ref: 'SupportPolicy' });
    expect(t.Outputs.OperatorsPolicyArn!.Value).toEqual({ Ref: 'OperatorsPolicy' });
    expect(t.Outputs.SignerInvokePolicyArn!.Value).toEqual({ Ref: 'SignerInvokePolicy' });
  });

  it('lets internal callers invoke the signer and nothing else', () => {
    const callers = statements.filter((s) => s.owner === 'SignerInvokePolicy');
    expect(callers.map((s) => [s.Effect, s.Action, s.Resource.map(referencedId)])).toEqual([
      ['Allow', ['lambda:InvokeFunction'], [functionLogicalId('signUrl')]],
      ['Deny', ['states:StartExecution'], ['OnboardingStateMachine']],
    ]);
  });

  it('lets support onboard, deactivate, sign and store keys, but never read a secret value', () => {
    const support = statements.filter((s) => s.owner === 'SupportPolicy');
    // Onboard and deactivate go through the IAM-authorized API, never a direct invoke (which can only claim who it is).
    const invoke = allows(support, 'lambda:InvokeFunction').flatMap((s) => s.Resource.map(referencedId));
    expect(invoke).toEqual([functionLogicalId('signUrl')]);
    const routes = allows(support, 'execute-api:Invoke').flatMap((s) => s.Resource.map(resourceText));
    expect(routes.sort()).toEqual(
      FRONT_DOOR_ROUTES.map((r) => `arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${FrontDoorApi}/*/${r.routeKey.replace(' ', '')}`).sort(),
    );
    for (const action of ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource']) {
      const grant = allows(support, action);
      expect(grant.length, action).toBe(1);
      expect(grant[0]!.Resource.map(resourceText)).toEqual([SECRETS]);
    }
    expect(allows(support, 'secretsmanager:GetSecretValue')).toEqual([]);
    expect(denies(support, 'secretsmanager:GetSecretValue').map((s) => s.Resource.map(resourceText))).toEqual([[SECRETS]]);
    expect(allows(support, 'dynamodb:GetItem').length).toBe(1);
    expect(allows(support, 'states:DescribeExecution').length).toBe(1);
    expect(allows(support, 'events:PutEvents')[0]!.Condition.StringEquals['events:detail-type']).toBe('Onboarding Requested');
  });

  it('lets operators start Logs Insights queries on this stage\'s log groups only, and read their results', () => {
    const ops = statements.filter((s) => s.owner === 'OperatorsPolicy');
    const start = allows(ops, 'logs:StartQuery');
    expect(start.length).toBe(1);
    const groups = start[0]!.Resource.map((r) => (referencedId(r) ? `GETATT:${referencedId(r)}` : resourceText(r)));
    expect(groups.sort()).toEqual(
      [`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/binary-backends-${STAGE}-*`, 'GETATT:OnboardingStateMachineLogGroup'].sort(),
    );
    expect(allows(ops, 'logs:GetQueryResults').map((s) => s.Sid)).toEqual(['LogsInsightsResultsRequireResourceStar']);
  });

  it('lets operators read executions, their history and the table, and change nothing', () => {
    const ops = statements.filter((s) => s.owner === 'OperatorsPolicy');
    for (const action of ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:ListExecutions', 'dynamodb:GetItem', 'dynamodb:Query']) {
      expect(allows(ops, action).length, action).toBe(1);
    }
    for (const action of [
      'states:StartExecution',
      'states:StopExecution',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'lambda:InvokeFunction',
      'secretsmanager:GetSecretValue',
    ]) {
      expect(allows(ops, action), action).toEqual([]);
    }
  });
});

describe('Deploy: the front door (issue 9)', () => {
  const busPolicy = () => resolved(t.Resources.ServiceEventBus!.Properties.Policy) as PolicyDocument;
  const busArn = `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/binary-backends-${STAGE}`;
  const put = (doc: PolicyDocument, principalArn: string, detailType: string, account = ACCOUNT) =>
    evaluate(doc, 'events:PutEvents', {
      principal: (p) => p === '*' || p === `arn:aws:iam::${account}:root`,
      resource: busArn,
      context: { 'aws:PrincipalArn': principalArn, 'events:source': 'peridio.binary-backends', 'events:detail-type': detailType },
    });
  const roleArn = (suffix: string, stage = STAGE) => `arn:aws:iam::${ACCOUNT}:role/binary-backends-${stage}-${suffix}`;

  it('creates this stage\'s own bus and routes Onboarding Requested from it, only for events of this account', () => {
    const bus = t.Resources.ServiceEventBus!;
    expect(bus.Type).toBe('AWS::Events::EventBus');
    expect(bus.Properties.Name).toBe(`binary-backends-${STAGE}`);
    const rule = resourcesOfType(t, 'AWS::Events::Rule')
      .map(([, r]) => r.Properties)
      .find((r) => r.EventPattern['detail-type']?.includes('Onboarding Requested'));
    expect(rule.EventBusName).toEqual({ Ref: 'ServiceEventBus' });
    expect(rule.EventPattern.account).toEqual([{ Ref: 'AWS::AccountId' }]);
    for (const f of FUNCTIONS) expect(fnResource(f.key).Properties.Environment.Variables.EVENT_BUS_NAME, f.key).toEqual({ Ref: 'ServiceEventBus' });
    expect(t.Outputs.EventBusName!.Value).toEqual({ Ref: 'ServiceEventBus' });
  });

  it('lets the functions put events on that bus only', () => {
    const emit = allows(statements, 'events:PutEvents').filter((s) => s.ownerType === 'AWS::IAM::Role');
    expect(emit.length).toBeGreaterThan(0);
    for (const s of emit) expect(s.Resource, s.owner).toEqual([{ 'Fn::GetAtt': ['ServiceEventBus', 'Arn'] }]);
  });

  it('admits on the bus exactly the stack\'s event-emitting function roles, with the service\'s events only', () => {
    const emitterRoles = allows(statements, 'events:PutEvents')
      .filter((s) => s.ownerType === 'AWS::IAM::Role')
      .map((s) => t.Resources[s.owner]!.Properties.RoleName as string)
      .sort();
    expect(eventBusModule.EMITTING_FUNCTIONS.map((f) => `binary-backends-${STAGE}-${f}`).sort()).toEqual(emitterRoles);
    const doc = busPolicy();
    for (const name of emitterRoles) {
      expect(put(doc, `arn:aws:iam::${ACCOUNT}:role/${name}`, 'Backend Activated'), name).toBe('allow');
      // A compromised workflow step cannot start onboardings through the bus.
      expect(put(doc, `arn:aws:iam::${ACCOUNT}:role/${name}`, 'Onboarding Requested'), name).toBe('deny');
    }
  });

  it('admits the named requesters for Onboarding Requested only, and denies everyone else explicitly', () => {
    const doc = busPolicy();
    expect(put(doc, REQUESTER, 'Onboarding Requested')).toBe('allow');
    expect(put(doc, REQUESTER, 'Backend Activated')).toBe('deny');
    // An explicit Deny, because within the account an identity policy with events:PutEvents would grant alone.
    expect(put(doc, `arn:aws:iam::${ACCOUNT}:role/Admin`, 'Onboarding Requested')).toBe('deny');
    expect(put(doc, `arn:aws:iam::${ACCOUNT}:user/intruder`, 'Backend Activated')).toBe('deny');
    expect(put(doc, roleArn('starter'), 'Onboarding Requested')).toBe('deny');
    // Another stage whose name shares the prefix is not this stage's emitter.
    expect(put(doc, roleArn('activate', 'dev-eu'), 'Backend Activated')).toBe('deny');
    expect(put(doc, `arn:aws:iam::210987654321:role/binary-backends-${STAGE}-activate`, 'Backend Activated', '210987654321')).toBe('deny');
  });

  it('with no requesters named, lets nobody put Onboarding Requested (the API is then the only way in)', async () => {
    const params: Record<string, string> = { 'sls:stage': STAGE, 'param:eventBusName': `binary-backends-${STAGE}`, 'param:onboardingRequesterArns': '' };
    const resources = await eventBusModule({ resolveVariable: async (v) => params[v] });
    const doc = resolved(resources.ServiceEventBus!.Properties.Policy) as PolicyDocument;
    expect(put(doc, REQUESTER, 'Onboarding Requested')).toBe('deny');
    expect(put(doc, roleArn('activate'), 'Backend Activated')).toBe('allow');
    params['param:onboardingRequesterArns'] = 'support-team';
    await expect(eventBusModule({ resolveVariable: async (v) => params[v] })).rejects.toThrow(/onboardingRequesterArns/);
  });

  it('fronts exactly the routes of deploy/front-door-routes.json, each AWS_IAM-authorized, with no other API', () => {
    const routes = resourcesOfType(t, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(FRONT_DOOR_ROUTES.map((r) => r.routeKey).sort());
    for (const r of routes) {
      expect(r.AuthorizationType, r.RouteKey).toBe('AWS_IAM');
      expect(r.ApiId).toEqual({ Ref: 'FrontDoorApi' });
    }
    expect(resourcesOfType(t, 'AWS::ApiGatewayV2::Api').map(([id]) => id)).toEqual(['FrontDoorApi']);
    expect(resourcesOfType(t, 'AWS::ApiGatewayV2::Authorizer')).toEqual([]);
    expect(resourcesOfType(t, 'AWS::ApiGateway::RestApi')).toEqual([]);
    expect(resourcesOfType(t, 'AWS::ApiGatewayV2::Api')[0]![1].Properties.ProtocolType).toBe('HTTP');
  });

  it('sends each route to its function with payload 2.0, and lets only this API invoke it', () => {
    const integrations = Object.fromEntries(resourcesOfType(t, 'AWS::ApiGatewayV2::Integration'));
    for (const { routeKey, function: key } of FRONT_DOOR_ROUTES) {
      const route = resourcesOfType(t, 'AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties.RouteKey === routeKey)![1];
      const integrationId = /^integrations\/\$\{(\w+)\}$/.exec(resourceText(route.Properties.Target))![1]!;
      expect(referencedId(integrations[integrationId]!.Properties.IntegrationUri)).toBe(functionLogicalId(key));
      expect(integrations[integrationId]!.Properties.PayloadFormatVersion).toBe('2.0');
      const [method, path] = routeKey.split(' ');
      const permission = resourcesOfType(t, 'AWS::Lambda::Permission').filter(
        ([, p]) => p.Properties.Principal === 'apigateway.amazonaws.com' && referencedId(p.Properties.FunctionName) === functionLogicalId(key),
      );
      expect(permission.map(([, p]) => resourceText(p.Properties.SourceArn))).toEqual([
        `arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${FrontDoorApi}/*/${method}${path}`,
      ]);
    }
    expect(resourceText(t.Outputs.ApiUrl!.Value)).toBe(JSON.stringify({ 'Fn::GetAtt': ['FrontDoorApi', 'ApiEndpoint'] }));
  });

  it('lets only the starter\'s role start executions, and denies it explicitly in every people policy', () => {
    expect([...new Set(allows(statements, 'states:StartExecution').map((s) => s.owner))]).toEqual([roleOf('starter')]);
    for (const policy of ['SupportPolicy', 'OperatorsPolicy', 'SignerInvokePolicy']) {
      const deny = denies(statements.filter((s) => s.owner === policy), 'states:StartExecution');
      expect(deny.map((s) => s.Resource), policy).toEqual([[{ Ref: 'OnboardingStateMachine' }]]);
      expect(deny[0]!.Condition, policy).toBeUndefined();
    }
  });

  it('tags roles only with this service\'s keys and this stage\'s values, never a role tagged for another stage', () => {
    const tag = allows(statements, 'iam:TagRole');
    expect([...new Set(tag.map((s) => s.owner))]).toEqual([roleOf('createPlatformRole')]);
    for (const s of tag) {
      expect(s.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
      expect(s.Condition.StringEquals).toEqual({ [`aws:RequestTag/${TAG_SERVICE}`]: SERVICE_TAG_VALUE, [`aws:RequestTag/${TAG_STAGE}`]: STAGE });
      expect(s.Condition.StringEqualsIfExists).toEqual({ [`aws:ResourceTag/${TAG_SERVICE}`]: SERVICE_TAG_VALUE, [`aws:ResourceTag/${TAG_STAGE}`]: STAGE });
      expect([...s.Condition['ForAllValues:StringEquals']['aws:TagKeys']].sort()).toEqual([TAG_BACKEND, TAG_ORG, TAG_SERVICE, TAG_STAGE].sort());
    }
    expect(allows(statements, 'iam:UntagRole')).toEqual([]);
  });

  it('re-trusts and writes policies only on binary_backend_* roles with this stage\'s tags (and boundary, where IAM has the key)', () => {
    const ownTags = { [`aws:ResourceTag/${TAG_SERVICE}`]: SERVICE_TAG_VALUE, [`aws:ResourceTag/${TAG_STAGE}`]: STAGE };
    const trust = allows(statements, 'iam:UpdateAssumeRolePolicy');
    expect(trust.length).toBe(1);
    expect(trust[0]!.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
    expect(trust[0]!.Condition).toEqual({ StringEquals: ownTags });
    const write = allows(statements, 'iam:PutRolePolicy');
    expect([...new Set(write.map((s) => s.owner))].sort()).toEqual([roleOf('activate'), roleOf('createPlatformRole'), roleOf('offboard')].sort());
    for (const s of write) {
      expect(s.Resource.map(resourceText)).toEqual([PLATFORM_ROLES]);
      expect(s.Condition).toEqual({ StringEquals: { 'iam:PermissionsBoundary': BOUNDARY, ...ownTags } });
    }
  });
});
