/**
 * Workflow budget: how much a customer who takes their time costs the onboarding execution.
 *
 * For a customer who applies the trust policy 5 min, 1 h, 24 h and 7 days after it was sent, this runs the
 * REAL statemachine/onboarding.asl.json on aws-local-stepfunctions with the REAL handlers (the state-machine
 * test harness: dynalite, faked AWS, a simulated clock, WaitForTrust overridden to 0 ms while the clock
 * jumps to the check CheckTrust scheduled), and prints per scenario:
 *  - state transitions (billed) and AWS history events, converted from the local event log as documented
 *    in test/statemachine/aws-history.ts (9 per Wait -> CheckTrust -> Choice loop, 3 per retry);
 *  - the measured detection delay (trust applied -> the check that saw it) and the worst case for that
 *    moment: the length of the wait the application fell into (the customer applied right after a check);
 *  - the transition cost at $0.025 per 1,000.
 * Plus a run where the customer never applies the policy: the whole 7-day deadline, ending in
 * TrustPolicyTimeoutError. Plus a CloudFront distribution that never finishes deploying: the whole 20-minute
 * WaitForCloudFront loop, ending in CloudFrontPropagationTimeoutError. Targets (exit 1 if missed): a 7-day wait
 * <= 3,000 history events and <= 1,000 transitions; worst-case detection delay <= 5 min during the first 2 h;
 * the CloudFront worst case <= 200 history events.
 */
import '../local/polyfills';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { Harness, executionInput, timesEntered, cloudFrontDownload } = await import('../test/statemachine/harness');
const { awsFigures, transitionCostUsd } = await import('../test/statemachine/aws-history');

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

interface Scenario {
  label: string;
  /** After the trust policy was sent (Trust Policy Ready); undefined = never. */
  appliedAfterMs?: number;
}

const scenarios: Scenario[] = [
  { label: '5 min', appliedAfterMs: 5 * MIN },
  { label: '1 h', appliedAfterMs: HOUR },
  { label: '24 h', appliedAfterMs: DAY },
  // The deadline is 7 days after the execution started; the policy is sent ~10 s later (role propagation
  // delay), so "7 days after it was sent" would land just past the deadline: this customer applies two
  // minutes before it, the last moment a 7-day customer can still make it.
  { label: '7 d (2 min before the deadline)', appliedAfterMs: 7 * DAY - 2 * MIN },
  { label: 'never (7 d deadline)' },
];

interface Row {
  scenario: string;
  outcome: string;
  checks: number;
  transitions: number;
  historyEvents: number;
  detectedAfter: string;
  worstCaseDelay: string;
  costUsd: string;
  worstGapFirst2hS: number;
  checkTimes: number[];
  applied?: number;
}

function fmt(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

async function runScenario(s: Scenario): Promise<Row> {
  const h = await Harness.start();
  try {
    const checkTimes: number[] = [];
    let readyAt: number | undefined;
    h.beforeTask.CheckTrust = (input) => {
      checkTimes.push(h.clock.now().getTime());
      if (readyAt === undefined) {
        readyAt = Date.parse(String((input.platformRole as { trustPolicyReadyAt: string }).trustPolicyReadyAt));
        if (s.appliedAfterMs !== undefined) h.cloud.trustAppliedAt = new Date(readyAt + s.appliedAfterMs);
      }
    };
    const run = await h.run(executionInput());
    const figures = awsFigures(run.events);
    const applied = h.cloud.trustAppliedAt?.getTime();
    let detectedAfter = '-';
    let worstCaseDelay = '-';
    if (applied !== undefined && run.status === 'SUCCEEDED') {
      const detected = checkTimes.find((t) => t >= applied)!;
      detectedAfter = fmt(detected - applied);
      const before = [...checkTimes].reverse().find((t) => t < applied) ?? readyAt!;
      worstCaseDelay = fmt(detected - before);
    }
    let worstGapFirst2h = 0;
    for (let i = 0; i + 1 < checkTimes.length; i += 1) {
      if (checkTimes[i]! - readyAt! < 2 * HOUR) worstGapFirst2h = Math.max(worstGapFirst2h, checkTimes[i + 1]! - checkTimes[i]!);
    }
    if (checkTimes.length > 0) worstGapFirst2h = Math.max(worstGapFirst2h, checkTimes[0]! - readyAt!);
    return {
      scenario: s.label,
      outcome: run.status === 'SUCCEEDED' ? 'ACTIVE' : `${run.status} ${run.error}`,
      checks: timesEntered(run.events, 'CheckTrust'),
      transitions: figures.stateTransitions,
      historyEvents: figures.historyEvents,
      detectedAfter,
      worstCaseDelay,
      costUsd: `$${transitionCostUsd(figures.stateTransitions).toFixed(4)}`,
      worstGapFirst2hS: Math.round(worstGapFirst2h / 1000),
      checkTimes,
      applied,
    };
  } finally {
    await h.stop();
  }
}

const started = performance.now();
const rows: Row[] = [];
for (const s of scenarios) rows.push(await runScenario(s));
const elapsed = performance.now() - started;

const header = ['trust applied after', 'outcome', 'CheckTrust runs', 'state transitions', 'AWS history events', 'detected after', 'worst case for that moment', 'cost (transitions)'];
console.log(`| ${header.join(' | ')} |`);
console.log(`| ${header.map(() => '---').join(' | ')} |`);
for (const r of rows) {
  console.log(`| ${[r.scenario, r.outcome, r.checks, r.transitions, r.historyEvents, r.detectedAfter, r.worstCaseDelay, r.costUsd].join(' | ')} |`);
}

const full = rows.find((r) => r.scenario.startsWith('never'))!;
const lastMinute = rows.find((r) => r.scenario.startsWith('7 d'))!;
const worstFirst2h = Math.max(...rows.map((r) => r.worstGapFirst2hS));
console.log('');
console.log(`Worst-case detection delay during the first 2 h (longest gap between checks starting then): ${worstFirst2h} s`);
console.log(`History-event conversion: 9 per Wait -> CheckTrust -> Choice loop, 5 per Task, 3 per retry (test/statemachine/aws-history.ts).`);
console.log(`Simulated ${scenarios.length} executions (${rows.reduce((n, r) => n + r.checks, 0)} trust checks) in ${(elapsed / 1000).toFixed(1)} s of wall time.`);

// CloudFront still deploying for the whole propagation window: the most the WaitForCloudFront loop can cost.
const cf = await (async () => {
  const h = await Harness.start();
  try {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.cloudFrontDeployingRequests = 1_000_000;
    const run = await h.run(executionInput({ download: cloudFrontDownload(h.cloud.cloudFrontHost) }));
    return { run, figures: awsFigures(run.events), attempts: timesEntered(run.events, 'VerifyDownload') };
  } finally {
    await h.stop();
  }
})();
console.log('');
console.log(
  `CloudFront never deploys (20-min window): ${cf.run.status} ${cf.run.error ?? ''} after ${cf.attempts} VerifyDownload attempts; ` +
    `the whole execution: ${cf.figures.historyEvents} history events, ${cf.figures.stateTransitions} transitions ($${transitionCostUsd(cf.figures.stateTransitions).toFixed(4)})`,
);

const targets: [string, boolean][] = [
  [`CloudFront propagation worst case: ${cf.figures.historyEvents} history events <= 200, ending in CloudFrontPropagationTimeoutError`, cf.run.error === 'CloudFrontPropagationTimeoutError' && cf.figures.historyEvents <= 200],
  [`7-day wait: ${full.historyEvents} history events <= 3,000`, full.historyEvents <= 3000 && lastMinute.historyEvents <= 3000],
  [`7-day wait: ${full.transitions} state transitions <= 1,000`, full.transitions <= 1000 && lastMinute.transitions <= 1000],
  [`detection delay in the first 2 h: ${worstFirst2h} s <= 300 s`, worstFirst2h <= 300],
  ['every customer who applied in time was activated', rows.filter((r) => r.applied !== undefined).every((r) => r.outcome === 'ACTIVE')],
  ['a customer who never applied ends in TrustPolicyTimeoutError', full.outcome === 'FAILED TrustPolicyTimeoutError'],
];
console.log('');
for (const [label, ok] of targets) console.log(`${ok ? 'PASS' : 'FAIL'}  ${label}`);
process.exit(targets.every(([, ok]) => ok) ? 0 : 1);
