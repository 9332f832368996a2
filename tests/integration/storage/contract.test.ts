/**
 * The model-store contract (./contract.ts) against both stores: AzureBlobStore
 * on Azurite and S3Store on s3rver.
 *
 * Emulator limits the quirks record: neither keeps blob/object versions (a
 * version id is ignored, so head() with one reports the object absent);
 * s3rver ignores If-Match on GET and publishes no x-amz-checksum-sha256.
 */
import { modelStoreContract } from './contract';
import { azuriteTarget, s3rverTarget } from './targets';

modelStoreContract(azuriteTarget, {
  many: 5_003,
  seedConcurrency: 64,
  unknownVersionId: '2024-01-01T00:00:00.0000000Z',
  contentMd5OnHead: true,
  enforcesIfMatch: true,
});

modelStoreContract(s3rverTarget, {
  many: 1_234, // two ListObjectsV2 pages of 1000
  seedConcurrency: 32,
  unknownVersionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY',
  contentMd5OnHead: false,
  enforcesIfMatch: false,
  etagPattern: /^[0-9a-f]{32}$/,
});
