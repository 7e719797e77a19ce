declare module 'dynalite';
declare module '@20minutes/s3rver';
declare module 'asl-validator';
declare module '*/deploy/plugins/no-redundant-depends-on.cjs' {
  /** Drops a function's DependsOn entry on the role its `Fn::GetAtt` already references (cfn-lint W3005). */
  export function dropRedundantRoleDependsOn(template: { Resources?: Record<string, unknown> }): void;
}
