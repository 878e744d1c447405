/**
 * The S3 adapter of the destinations' bucket writer: PutObject into a bucket the user named. The object is
 * written with the `bucket-owner-full-control` canned ACL, so that the owner of a bucket in another account
 * owns and can read it (a bucket with ACLs disabled accepts exactly this ACL), and with `ExpectedBucketOwner`
 * when the destination names the owning account, so that a bucket that changed hands is never written to.
 */
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ExternalBucketWriter } from "../destinations/member-files";

export class S3ExternalBucketWriter implements ExternalBucketWriter {
  constructor(private readonly s3: S3Client) {}

  async put(object: Parameters<ExternalBucketWriter["put"]>[0]): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: object.bucket,
        Key: object.key,
        Body: object.body,
        ContentType: object.contentType,
        ACL: "bucket-owner-full-control",
        ...(object.expectedBucketOwner ? { ExpectedBucketOwner: object.expectedBucketOwner } : {}),
      }),
    );
  }
}
