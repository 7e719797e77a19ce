/**
 * The signer's multipart calls (functions/shared/s3-multipart.ts's S3MultipartApi) over an SDK S3Client,
 * so unit tests can keep faking S3 with aws-sdk-client-mock and assert on the SDK commands' inputs. The
 * production implementation (signed fetch) is tested in s3-multipart.test.ts and against s3rver.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { S3MultipartApi } from '#shared/s3-multipart';

export function sdkMultipart(client: S3Client): S3MultipartApi {
  return {
    createMultipartUpload: (input) => client.send(new CreateMultipartUploadCommand(input)),
    completeMultipartUpload: (input) => client.send(new CompleteMultipartUploadCommand(input)),
    abortMultipartUpload: async (input) => {
      await client.send(new AbortMultipartUploadCommand(input));
    },
  };
}
