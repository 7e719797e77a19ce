import type { BuildOptions } from 'esbuild';

/** esbuild's own options for the Lambda bundles (deploy/esbuild-options.cjs). */
export declare const buildOptions: BuildOptions & { external: string[] };
/** serverless-esbuild's `custom.esbuild` (serverless.yml). */
export declare const serverlessEsbuild: Record<string, unknown>;
