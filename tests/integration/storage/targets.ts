/**
 * The two model stores the integration tests run against, started and seeded
 * one way: Azure Blob Storage on Azurite and S3 on s3rver, both on 127.0.0.1.
 * Each target starts its service with an empty `models` container / bucket,
 * seeds objects (with metadata, tags, a published Content-MD5) and makes a
 * ModelStore over it, optionally through another endpoint (a fault proxy).
 * Used by the model-store contract (./contract.ts) and by
 * tests/integration/download/stores.test.ts.
 */
import { createReadStream } from 'node:fs';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { azureBlobStoreFromConnectionString } from '../../../shared/storage/azure-blob';
import { S3Store } from '../../../shared/storage/s3';
import type { ModelStore } from '../../../shared/storage/store';
import { startAzurite, type TestAzurite } from '../../helpers/azurite';
import { startS3Server, type TestS3Server } from '../../helpers/s3server';

export const CONTAINER = 'models';

export interface PutExtra {
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
}

export interface StoreOptions {
  /** Reach the service at this origin (http://127.0.0.1:<port>) instead of its own: a proxy in front of it. */
  via?: string;
  /** One attempt in the SDK: the caller's retry logic is what is tested. */
  noSdkRetries?: boolean;
}

export interface RunningTarget {
  /** The service's own port on 127.0.0.1. */
  port: number;
  store(options?: StoreOptions): ModelStore;
  put(key: string, body: string | Buffer, extra?: PutExtra): Promise<void>;
  /** Uploads a (large) file, publishing its base64 MD5 the way that store does it. */
  putFile(key: string, file: string, size: number, md5: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StoreTarget {
  name: string;
  start(): Promise<RunningTarget>;
}

export const azuriteTarget: StoreTarget = {
  name: 'Azure Blob (Azurite)',
  async start() {
    const az: TestAzurite = await startAzurite();
    const container: ContainerClient = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient(CONTAINER);
    await container.create();
    return {
      port: az.port,
      store(options = {}) {
        const conn = options.via
          ? `DefaultEndpointsProtocol=http;AccountName=${az.accountName};AccountKey=${az.accountKey};BlobEndpoint=${options.via}/${az.accountName};`
          : az.connectionString;
        return azureBlobStoreFromConnectionString(conn, CONTAINER, options.noSdkRetries ? { maxTries: 1 } : {});
      },
      async put(key, body, extra = {}) {
        const data = typeof body === 'string' ? Buffer.from(body) : body;
        await container.getBlockBlobClient(key).upload(data, data.length, { metadata: extra.metadata, tags: extra.tags });
      },
      async putFile(key, file, _size, md5) {
        // uploadFile in blocks publishes no Content-MD5 by itself: set it, as publishers do.
        await container
          .getBlockBlobClient(key)
          .uploadFile(file, { blockSize: 32 * 1024 * 1024, concurrency: 4, blobHTTPHeaders: { blobContentMD5: Buffer.from(md5, 'base64') } });
      },
      stop: () => az.stop(),
    };
  },
};

export const s3rverTarget: StoreTarget = {
  name: 'S3 (s3rver)',
  async start() {
    const s3: TestS3Server = await startS3Server({ childProcess: true, buckets: [CONTAINER], verifySignatures: true });
    return {
      port: s3.port,
      store(options = {}) {
        return new S3Store({
          bucket: CONTAINER,
          endpoint: options.via ?? s3.endpoint,
          region: s3.region,
          ...(options.via ? { forcePathStyle: true } : {}),
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
          ...(options.noSdkRetries ? { maxAttempts: 1 } : {}),
        });
      },
      async put(key, body, extra = {}) {
        await s3.putObject(CONTAINER, key, body, { metadata: extra.metadata, tags: extra.tags });
      },
      async putFile(key, file, size) {
        // s3rver's ETag of a single PUT is the MD5 itself.
        await s3.putObject(CONTAINER, key, createReadStream(file), { contentLength: size });
      },
      stop: () => s3.stop(),
    };
  },
};
