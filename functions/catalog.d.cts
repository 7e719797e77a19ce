/** Types of functions/catalog.cjs (the function catalog; read its header for how to add a function). */

/** A CloudFormation intrinsic as JSON (`{ Ref: X }`, `{ 'Fn::GetAtt': [X, 'Arn'] }`), or the chain walkers' role ARNs. */
type CatalogValue = string | number | { [k: string]: unknown };

export interface CatalogFunction {
  /** The serverless function key (camelCase); the CloudFormation logical ID is `<Key>LambdaFunction`. */
  readonly key: string;
  /** The serverless handler string, `functions/<dir>/handler.handler`. */
  readonly handler: string;
  /** Deployed as `binary-backends-<stage>-<suffix>`; its role has the same name. */
  readonly suffix: string;
  /** The ASL Task state that runs it, if any. */
  readonly task?: string;
  /** Assumes platform roles (hop 1 of the chain): the platform roles' trust names its role. */
  readonly walksChain?: boolean;
  readonly description?: string;
  /** Seconds, at or below its ASL Task's TimeoutSeconds. */
  readonly timeout: number;
  /** MB; absent = the provider default. */
  readonly memorySize?: CatalogValue;
  /** Its own environment variables, besides the provider's common ones (serverless.yml `provider.environment`). */
  readonly environment?: Readonly<Record<string, CatalogValue>>;
  /** Deploy-only settings passed through to serverless.yml (events, async retries, destinations). */
  readonly deploy?: Readonly<Record<string, unknown>>;
}

export declare const SERVICE: 'binary-backends';
export declare const FUNCTIONS: readonly CatalogFunction[];
export declare function functionName(stage: string, suffix: string): string;
export declare function roleLogicalId(key: string): string;
export declare function handlerModule(handler: string): string;
export declare function serverlessFunctions(ctx: { resolveVariable: (address: string) => Promise<unknown> }): Promise<Record<string, Record<string, unknown>>>;
