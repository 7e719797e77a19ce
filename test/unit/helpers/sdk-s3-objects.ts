/**
 * VerifyUpload's and Cleanup's S3 calls (functions/shared/s3-objects.ts's S3ObjectsApi) over an SDK S3Client,
 * so unit tests and the state-machine harness can keep faking S3 with aws-sdk-client-mock or fake clients
 * and assert on the SDK commands' inputs. The production implementation (signed fetch) is tested in
 * s3-objects.test.ts (including that its errors are named as an S3Client names them) and against the local
 * S3 stand-in in test/integration/customer-buckets.test.ts.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { S3ObjectsApi } from '#shared/s3-objects';

export function sdkS3Objects(client: S3Client): S3ObjectsApi {
  return {
    headBucket: (input) => client.send(new HeadBucketCommand(input)),
    putObject: (input) => client.send(new PutObjectCommand(input)),
    createMultipartUpload: (input) => client.send(new CreateMultipartUploadCommand(input)),
    uploadPart: (input) => client.send(new UploadPartCommand(input)),
    completeMultipartUpload: (input) => client.send(new CompleteMultipartUploadCommand(input)),
    abortMultipartUpload: async (input) => {
      await client.send(new AbortMultipartUploadCommand(input));
    },
    listObjectsV2: (input) => client.send(new ListObjectsV2Command(input)),
    listObjectVersions: (input) => client.send(new ListObjectVersionsCommand(input)),
    deleteObject: (input) => client.send(new DeleteObjectCommand(input)),
  };
}
