/**
 * `binary-backends smoke --stage S`: after `osls deploy`, invokes every function of the stage with
 * `{"smoke": true}` (functions/shared/smoke.ts) and reports PASS/FAIL per function with the failing action.
 * Function names follow the deployment's convention, `binary-backends-<stage>-<suffix>` (serverless.yml), the
 * same names the local stack registers. Needs lambda:InvokeFunction on them: the deployer's credentials.
 */
import { FUNCTIONS } from '../../local/lambda';
import type { SmokeCheck, SmokeReport } from '../../functions/public';
import { AwsClients, requireEnv } from '../aws';
import { EXIT, UsageError, paintStatus, styleFor, table, writeJson, type CliIo, type ExitCode } from '../io';
import { LambdaFunctionError, invokeJson } from '../lambda';

export interface FunctionSmokeResult {
  function: string;
  functionName: string;
  result: 'PASS' | 'FAIL';
  checks: SmokeCheck[];
  /** On FAIL: the first failing action, with its error. */
  failing?: SmokeCheck;
}

export interface SmokeResult {
  stage: string;
  result: 'PASS' | 'FAIL';
  functions: FunctionSmokeResult[];
}

const STAGE_RE = /^[A-Za-z0-9-]{1,32}$/;

/** Invokes one function's smoke mode; an invoke or function error is a FAIL naming what failed. */
async function smokeOne(clients: AwsClients, key: string, functionName: string): Promise<FunctionSmokeResult> {
  let checks: SmokeCheck[];
  try {
    const report = await invokeJson<SmokeReport>(clients.lambda, functionName, { smoke: true });
    checks = Array.isArray(report?.checks)
      ? report.checks
      : [{ action: 'smoke mode', result: 'FAIL', error: 'NoSmokeReport', message: 'the function did not answer with a smoke report (an older deployment?)' }];
  } catch (err) {
    checks =
      err instanceof LambdaFunctionError
        ? [{ action: 'smoke mode (function error)', result: 'FAIL', error: err.errorType, message: err.errorMessage }]
        : [{ action: 'lambda:InvokeFunction', result: 'FAIL', error: (err as Error).name, message: (err as Error).message }];
  }
  const failing = checks.find((c) => c.result !== 'PASS');
  return { function: key, functionName, result: failing ? 'FAIL' : 'PASS', checks, ...(failing ? { failing } : {}) };
}

export async function smoke(flags: { stage?: string; json?: boolean }, io: CliIo): Promise<ExitCode> {
  const stage = flags.stage?.trim() ?? '';
  if (!STAGE_RE.test(stage)) throw new UsageError(`--stage: required, 1-32 letters, digits or hyphens, as given to osls deploy (got ${JSON.stringify(flags.stage ?? '')})`);
  requireEnv(io.env, []);
  const clients = new AwsClients(io.env);
  try {
    const functions = await Promise.all(FUNCTIONS.map((f) => smokeOne(clients, f.key, `binary-backends-${stage}-${f.suffix}`)));
    const result: SmokeResult = { stage, result: functions.every((f) => f.result === 'PASS') ? 'PASS' : 'FAIL', functions };
    io.onResult?.('smoke', result);
    if (flags.json) {
      writeJson(io, result);
    } else {
      const style = styleFor(io);
      io.stdout.write(
        table(
          style,
          ['FUNCTION', 'RESULT', 'CHECKS', 'FAILING ACTION'],
          functions.map((f) => [
            f.functionName,
            paintStatus(style, f.result),
            String(f.checks.length),
            f.failing ? `${f.failing.action}: ${f.failing.error ?? ''}${f.failing.message ? ` (${f.failing.message})` : ''}` : '',
          ]),
        ),
      );
      io.stdout.write(`${style.paint('bold', `Smoke ${result.result}`)} for stage ${stage}: ${functions.filter((f) => f.result === 'PASS').length}/${functions.length} functions pass.\n`);
    }
    return result.result === 'PASS' ? EXIT.ok : EXIT.failure;
  } finally {
    clients.destroy();
  }
}
