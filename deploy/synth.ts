/**
 * Synthesizes the stack offline with `osls package`, in a throwaway copy of the service (its sources plus a
 * symlink to node_modules), so the template tests and the bundle bench never touch the working tree's
 * `.serverless/` or `.esbuild/`, never race a teammate's `npm run package`, and prove that packaging needs
 * no AWS credentials, no AWS environment and no user config: the child gets PATH and a fresh HOME only.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What `osls package` reads: the service file and everything it bundles or `${file()}`-includes. */
const SERVICE_SOURCES = ['serverless.yml', 'deploy', 'functions', 'statemachine', 'package.json', 'tsconfig.json'];

// CloudFormation JSON is untyped by nature; tests narrow what they read.
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature; tests narrow what they read.
export type Json = any;

export interface CfnResource {
  Type: string;
  Properties: Json;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Condition?: string;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs: Record<string, { Value: Json; Description?: string }>;
  Conditions?: Record<string, Json>;
  Parameters?: Record<string, Json>;
}

export interface Synthesized {
  /** The package output directory: the template JSON and one zip per function. */
  outDir: string;
  template: CfnTemplate;
  /** Function key -> zip path. */
  zips: Record<string, string>;
  durationMs: number;
  /** Removes the throwaway copy. */
  dispose(): void;
}

export interface SynthOptions {
  stage?: string;
  region?: string;
  /** `--param="k=v"` overrides of stage parameters. */
  params?: Record<string, string>;
}

function oslsBin(): string {
  return join(repoRoot, 'node_modules', 'osls', 'bin', 'serverless.js');
}

/** A copy of the service's sources with node_modules symlinked: cheap, and isolated from the working tree. */
function serviceCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'binary-backends-synth-'));
  for (const entry of SERVICE_SOURCES) {
    const from = join(repoRoot, entry);
    if (existsSync(from)) cpSync(from, join(dir, entry), { recursive: true });
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** The child's whole environment: no AWS_* variables, no credentials, no profile, a HOME with nothing in it. */
function isolatedEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, NO_COLOR: '1', CI: '1' };
}

function run(cwd: string, args: string[], home: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [oslsBin(), ...args], { cwd, env: isolatedEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise({ stdout, stderr });
      else reject(new Error(`osls ${args.join(' ')} exited ${code}\n${stdout}\n${stderr}`));
    });
  });
}

function paramArgs(params: Record<string, string> = {}): string[] {
  return Object.entries(params).map(([k, v]) => `--param=${k}=${v}`);
}

/** Runs `osls package` on a copy of the service and returns the CloudFormation template and the zips. */
export async function synthesize(opts: SynthOptions = {}): Promise<Synthesized> {
  const dir = serviceCopy();
  const home = join(dir, '.home');
  const outDir = join(dir, '.serverless');
  const started = Date.now();
  try {
    await run(
      dir,
      ['package', '--stage', opts.stage ?? 'dev', '--region', opts.region ?? 'us-east-1', '--package', outDir, ...paramArgs(opts.params)],
      home,
      600_000,
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const durationMs = Date.now() - started;
  const template = JSON.parse(readFileSync(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8')) as CfnTemplate;
  const zips: Record<string, string> = {};
  for (const f of readdirSync(outDir)) if (f.endsWith('.zip')) zips[f.slice(0, -'.zip'.length)] = join(outDir, f);
  return { outDir, template, zips, durationMs, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `osls print` of the resolved service config for a stage (no bundling: fast). */
export async function printConfig(opts: SynthOptions = {}): Promise<Json> {
  const dir = serviceCopy();
  try {
    const { stdout } = await run(
      dir,
      ['print', '--format', 'json', '--stage', opts.stage ?? 'dev', '--region', opts.region ?? 'us-east-1', ...paramArgs(opts.params)],
      join(dir, '.home'),
      600_000,
    );
    return JSON.parse(stdout.slice(stdout.indexOf('{')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function fileSize(path: string): number {
  return statSync(path).size;
}
