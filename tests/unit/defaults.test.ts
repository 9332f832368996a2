/**
 * task.json must state its defaults as literals (the agent shows them in the
 * editor); the entries take them from the library's constants. This keeps the
 * two equal, so a default is changed in one place and a test says where else.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_BLOCK_SIZE, DEFAULT_CONCURRENCY as FETCH_CONCURRENCY, DEFAULT_RETRIES } from '../../shared/download/ranged';
import { CANARY_DEFAULTS } from '../../shared/k8s/canary';
import { DEPLOY_DEFAULTS } from '../../shared/k8s/deploy';
import { TEMPLATE_DEFAULTS } from '../../shared/k8s/template';
import { DEFAULT_NETWORK_DEADLINE_MINUTES, DEFAULT_NETWORK_TIMEOUT_SECONDS } from '../../shared/net/timeouts';
import { DEFAULT_APP_DESTINATION, DEFAULT_MODEL_DESTINATION } from '../../shared/oci/bundle';
import { DEFAULT_DOCKERFILE } from '../../shared/oci/docker-build';
import { DEFAULT_IMAGE_FORMAT } from '../../shared/oci/image';
import { DEFAULT_COMPRESSION } from '../../shared/oci/layer';
import { DEFAULT_PLATFORM, formatPlatform } from '../../shared/oci/platform';
import { DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY as PUSH_CONCURRENCY } from '../../shared/oci/registry/push';
import { RUN_DEFAULTS } from '../../shared/testimage/test-image';

const MiB = 1024 * 1024;
const network = { networkTimeout: DEFAULT_NETWORK_TIMEOUT_SECONDS, networkDeadline: DEFAULT_NETWORK_DEADLINE_MINUTES };

const expected: Record<string, Record<string, string | number | boolean>> = {
  FetchModel: {
    ...network,
    concurrency: FETCH_CONCURRENCY,
    blockSizeMiB: DEFAULT_BLOCK_SIZE / MiB,
    retries: DEFAULT_RETRIES,
    // Layer reuse must look for the layer BundleModelImage builds by default.
    reuseModelDestination: DEFAULT_MODEL_DESTINATION,
    reuseCompression: DEFAULT_COMPRESSION,
  },
  PushToACR: { ...network, chunkSizeMiB: DEFAULT_CHUNK_SIZE / MiB, concurrency: PUSH_CONCURRENCY },
  BundleModelImage: {
    ...network,
    platform: formatPlatform(DEFAULT_PLATFORM),
    modelDestination: DEFAULT_MODEL_DESTINATION,
    appDestination: DEFAULT_APP_DESTINATION,
    dockerfile: DEFAULT_DOCKERFILE,
    compression: DEFAULT_COMPRESSION,
    imageFormat: DEFAULT_IMAGE_FORMAT,
  },
  DeployToAKS: {
    ...network,
    ...TEMPLATE_DEFAULTS,
    namespace: DEPLOY_DEFAULTS.namespace,
    rolloutTimeoutSeconds: DEPLOY_DEFAULTS.rolloutTimeoutSeconds,
    rollbackOnFailure: DEPLOY_DEFAULTS.rollbackOnFailure,
    renderOnly: DEPLOY_DEFAULTS.renderOnly,
    statusPollIntervalMs: DEPLOY_DEFAULTS.pollIntervalMs,
    ...CANARY_DEFAULTS,
  },
  TestModelImage: { ...RUN_DEFAULTS },
};

interface TaskJson {
  inputs: { name: string; defaultValue?: string }[];
}

describe('defaults: task.json states the library constants', () => {
  for (const [task, values] of Object.entries(expected)) {
    it(`${task}: ${Object.keys(values).join(', ')}`, () => {
      const json = JSON.parse(readFileSync(join(__dirname, '..', '..', 'tasks', task, 'task.json'), 'utf8')) as TaskJson;
      for (const [input, value] of Object.entries(values)) {
        const declared = json.inputs.find((i) => i.name === input);
        assert.ok(declared, `${task}/task.json has no input ${input}`);
        assert.equal(
          declared.defaultValue,
          String(value),
          `${task}/task.json ${input}: defaultValue '${declared.defaultValue}', library constant ${String(value)}`,
        );
      }
    });
  }
});
