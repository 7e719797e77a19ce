declare module 'dynalite';
declare module '@20minutes/s3rver';
declare module 'asl-validator';
declare module '*/deploy/plugins/no-redundant-depends-on.cjs' {
  /** Drops a function's DependsOn entry on the role its `Fn::GetAtt` already references (cfn-lint W3005). */
  export function dropRedundantRoleDependsOn(template: { Resources?: Record<string, unknown> }): void;
}

/** S3's compiled endpoint rule set (client-s3 has no `exports` map; its dist-types/endpoint/bdd.d.ts says the same). */
declare module '@aws-sdk/client-s3/dist-es/endpoint/bdd.js' {
  import type { BinaryDecisionDiagram } from '@smithy/core/endpoints';
  export const bdd: BinaryDecisionDiagram;
}

/** The DynamoDB, STS and Secrets Manager endpoint rule sets, for the signer's tiny clients (aws-fetch.ts). */
declare module '@aws-sdk/client-dynamodb/dist-es/endpoint/bdd.js' {
  import type { BinaryDecisionDiagram } from '@smithy/core/endpoints';
  export const bdd: BinaryDecisionDiagram;
}
declare module '@aws-sdk/client-sts/dist-es/endpoint/bdd.js' {
  import type { BinaryDecisionDiagram } from '@smithy/core/endpoints';
  export const bdd: BinaryDecisionDiagram;
}
declare module '@aws-sdk/client-secrets-manager/dist-es/endpoint/bdd.js' {
  import type { BinaryDecisionDiagram } from '@smithy/core/endpoints';
  export const bdd: BinaryDecisionDiagram;
}
