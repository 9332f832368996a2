/**
 * The sample model of the demo and the end-to-end test: a JSON linear model
 * (samples/model-api reads it), published in two versions as version folders
 * (`<prefix>1.0.0/model.json`, `<prefix>1.1.0/model.json`) in Azure Blob
 * Storage (Azurite) and S3 (s3rver), with a `sha256` metadata key so FetchModel
 * verifies what it downloads. 1.1.0 is written last, so both `latestModified`
 * and `highestVersion` resolve it.
 */
import { createHash } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { manifestDigest } from '../../shared/download/verify';

export const SAMPLE_VERSIONS = ['1.0.0', '1.1.0'] as const;
export const SAMPLE_FEATURES = ['age', 'bmi', 'bp', 's5'];

export interface SampleModelVersion {
  version: string;
  /** model.json bytes. */
  body: Buffer;
  /** sha256 of model.json. */
  fileSha256: string;
  /** FetchModel's modelSha256 for the version folder (manifest digest of its one file). */
  folderSha256: string;
  coefficients: number[];
  intercept: number;
}

/** Deterministic weights per version (1.1.0 is "retrained": different numbers). */
export function sampleModel(version: string): SampleModelVersion {
  const seed = createHash('sha256').update(`sample-model-${version}`).digest();
  const coefficients = SAMPLE_FEATURES.map((_, i) => Math.round((100 + (seed[i] as number) * 2.5) * 100) / 100);
  const intercept = Math.round((140 + (seed[8] as number) / 10) * 100) / 100;
  const doc = {
    format: 'linear-regression/v1',
    name: 'diabetes-progression',
    version,
    description: 'Toy linear model of disease progression from four standardised features.',
    features: SAMPLE_FEATURES,
    coefficients,
    intercept,
  };
  const body = Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
  const fileSha256 = createHash('sha256').update(body).digest('hex');
  return { version, body, fileSha256, folderSha256: manifestDigest([{ path: 'model.json', sha256: fileSha256 }]), coefficients, intercept };
}

/** What the model predicts for a row (the app's formula, rounded like the app). */
export function predict(model: SampleModelVersion, row: number[]): number {
  let y = model.intercept;
  row.forEach((v, i) => (y += (model.coefficients[i] as number) * v));
  return Math.round(y * 1e6) / 1e6;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Uploads every version to `container/<prefix><version>/model.json` (container created if missing). */
export async function publishToAzureBlob(connectionString: string, container: string, prefix: string, versions: SampleModelVersion[]): Promise<string[]> {
  const service = BlobServiceClient.fromConnectionString(connectionString);
  const c = service.getContainerClient(container);
  await c.createIfNotExists();
  const keys: string[] = [];
  for (const v of versions) {
    const key = `${prefix}${v.version}/model.json`;
    await c
      .getBlockBlobClient(key)
      .upload(v.body, v.body.length, { metadata: { sha256: v.fileSha256 }, blobHTTPHeaders: { blobContentType: 'application/json' } });
    keys.push(key);
    // Distinct last-modified times (second resolution) so latestModified is unambiguous.
    await sleep(1100);
  }
  return keys;
}

/** Uploads every version to `s3://bucket/<prefix><version>/model.json` (the bucket must exist). */
export async function publishToS3(client: S3Client, bucket: string, prefix: string, versions: SampleModelVersion[]): Promise<string[]> {
  const keys: string[] = [];
  for (const v of versions) {
    const key = `${prefix}${v.version}/model.json`;
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: v.body,
        ContentLength: v.body.length,
        ContentType: 'application/json',
        Metadata: { sha256: v.fileSha256 },
      }),
    );
    keys.push(key);
    await sleep(1100);
  }
  return keys;
}
