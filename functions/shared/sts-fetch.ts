/**
 * STS AssumeRole as one SigV4-signed fetch (Query protocol: `Action=AssumeRole&Version=2011-06-15`, an XML
 * answer): the signer's "assume role" function for the CredentialBroker, without the SDK client (issue 12.9).
 *
 * Endpoint: STS's own rule set (regional `https://sts.<region>.amazonaws.com`, `.amazonaws.com.cn` in China,
 * FIPS when asked; the SDK never picks the global endpoint by itself any more) with `AWS_ENDPOINT_URL_STS` /
 * `AWS_ENDPOINT_URL`. Hop 1 and the signer role are signed with the function's own credentials, hop 2 with
 * the platform role's. Errors: the XML `<Code>` becomes `name` as in the SDK, and credential-broker.ts
 * `stsFailure` maps it exactly as for the SDK client (AssumeRoleDeniedError, StsRegionDisabledError,
 * StsInvalidClientTokenError, TransientError).
 */
import { bdd } from '@aws-sdk/client-sts/dist-es/endpoint/bdd.js';
import { AwsServiceError, awsFetch, envCredentials, ruleSetEndpoint, type Env, type ServiceEndpoint } from './aws-fetch';
import { rfc3986Encode } from './url-signers';
import { CHAINED_SESSION_SECONDS, incompleteCredentials, stsFailure, type AssumeRoleFn, type AwsCredentials } from './credential-broker';
import { regionOf, type FetchClientOptions } from './dynamodb-fetch';
import { xmlElement } from './s3-multipart';

/** STS's endpoint as STSClient resolves it for `region` in `env`. */
export function stsEndpoint(region: string, env: Env = process.env): ServiceEndpoint {
  return ruleSetEndpoint(bdd, 'STS', region, env, { UseGlobalEndpoint: false });
}

/** A Query protocol error (`<ErrorResponse><Error><Code>`) as the SDK names it. */
export function queryError(status: number, headers: Headers, text: string): AwsServiceError {
  const code = xmlElement(text, 'Code') ?? 'UnknownError';
  return new AwsServiceError(code, xmlElement(text, 'Message') ?? code, status, xmlElement(text, 'RequestId') ?? headers.get('x-amzn-requestid') ?? undefined);
}

/** An AssumeRoleFn over signed fetches (see the module comment). */
export function fetchAssumeRole(options: FetchClientOptions = {}): AssumeRoleFn {
  const env = options.env ?? process.env;
  const ownCredentials = options.credentials ?? (() => envCredentials(env));
  let endpoint: ServiceEndpoint | undefined;
  return async (hop, req, signWith) => {
    let region = options.region ?? env.AWS_REGION ?? 'its region';
    try {
      region = regionOf(options);
      endpoint ??= stsEndpoint(region, env);
      const params: [string, string][] = [
        ['Action', 'AssumeRole'],
        ['Version', '2011-06-15'],
        ['RoleArn', req.roleArn],
        ['RoleSessionName', req.sessionName],
        ['DurationSeconds', String(req.durationSeconds ?? CHAINED_SESSION_SECONDS)],
      ];
      if (req.externalId !== undefined) params.push(['ExternalId', req.externalId]);
      const res = await awsFetch(
        {
          signingName: 'sts',
          region: endpoint.signingRegion,
          credentials: signWith ?? ownCredentials(),
          endpoint: endpoint.url,
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: params.map(([k, v]) => `${k}=${rfc3986Encode(v)}`).join('&'),
          parseError: queryError,
          operation: 'STS AssumeRole',
        },
        options,
      );
      const accessKeyId = xmlElement(res.text, 'AccessKeyId');
      const secretAccessKey = xmlElement(res.text, 'SecretAccessKey');
      const expiration = xmlElement(res.text, 'Expiration');
      if (!accessKeyId || !secretAccessKey || !expiration) throw incompleteCredentials(req.roleArn);
      const credentials: AwsCredentials = {
        accessKeyId,
        secretAccessKey,
        sessionToken: xmlElement(res.text, 'SessionToken'),
        expiration: new Date(expiration),
      };
      return credentials;
    } catch (err) {
      throw stsFailure(err, hop, req, region);
    }
  };
}
