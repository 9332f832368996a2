/**
 * Opt-in: deploys the built-in template to a real cluster when TEST_KUBECONFIG
 * names a kubeconfig file (its current context is used) and TEST_IMAGE is an
 * image pinned by digest that the cluster can pull and that listens on port 80
 * (e.g. an nginx image by digest). Runs in namespace TEST_NAMESPACE (default
 * deploytoaks-test), which it leaves in place. Without TEST_KUBECONFIG it is
 * skipped with the reason; under CI (.mocharc.cjs) it is then left out of the
 * run, since pending tests fail a CI run. TEST_KUBECONFIG without TEST_IMAGE
 * is a half-made opt-in and fails.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../../shared/k8s/client';
import { deploy } from '../../../shared/k8s/deploy';
import { kubeConfigFromString } from '../../../shared/k8s/kubeconfig';
import { consoleLogger } from '../../../shared/log';

describe('deploy against a real cluster (TEST_KUBECONFIG)', function () {
  this.timeout(15 * 60_000);
  const file = process.env.TEST_KUBECONFIG;

  before(function () {
    if (file && !process.env.TEST_IMAGE)
      assert.fail(
        'TEST_KUBECONFIG is set but TEST_IMAGE is not: set TEST_IMAGE=registry/repo@sha256:... (an HTTP server on port 80) too, or unset TEST_KUBECONFIG.',
      );
    if (!file) {
      console.log(
        '    skipped: set TEST_KUBECONFIG=/path/to/kubeconfig and TEST_IMAGE=registry/repo@sha256:... (an HTTP server on port 80; optionally TEST_NAMESPACE) to run against a real cluster',
      );
      this.skip();
    }
  });

  it('applies, rolls out and reports the revision', async () => {
    const work = mkdtempSync(join(tmpdir(), 'real-cluster-'));
    try {
      const kc = kubeConfigFromString(readFileSync(file as string, 'utf8'), { input: 'kubeconfig' });
      const image = process.env.TEST_IMAGE as string;
      const r = await deploy({
        client: new KubeClient(kc),
        namespace: process.env.TEST_NAMESPACE ?? 'deploytoaks-test',
        manifests: [],
        cwd: work,
        image,
        template: {
          appName: 'deploytoaks-smoke',
          replicas: 1,
          containerPort: 80,
          servicePort: 80,
          serviceType: 'ClusterIP',
          internalLoadBalancer: false,
          startupTimeoutSeconds: 120,
          gpuLimit: 0,
          env: [],
          maxSurge: '1',
          maxUnavailable: '0',
          progressDeadlineSeconds: 300,
          cpuRequest: '10m',
          memoryRequest: '16Mi',
        },
        imagePullSecrets: [],
        model: { version: 'real-cluster-test' },
        renderOnly: false,
        renderDir: join(work, 'rendered'),
        rolloutTimeoutSeconds: 600,
        rollbackOnFailure: true,
        logger: consoleLogger,
      });
      assert.match(r.revision, /^\d+$/);
      assert.match(r.serviceEndpoint, /^deploytoaks-smoke\./);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
