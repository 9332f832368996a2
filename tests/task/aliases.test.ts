/**
 * Aliases for people moving from Microsoft's and AWS's tasks: declared in
 * task.json, and honoured at run time. task-lib's getInput knows no aliases;
 * the pipeline maps a YAML step's alias to the input's name before the agent
 * sets INPUT_<NAME>, and the agent emulation (scripts/lib/agent.ts) does the
 * same, so a task run with an alias sees the value under the input's name.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalInputs } from '../../scripts/lib/agent';
import { root, runMock } from './mock-task';

const ALIASES: Record<string, Record<string, string>> = {
  DeployToAKS: { azureSubscriptionConnection: 'azureSubscription', azureResourceGroup: 'resourceGroup', rolloutStatusTimeout: 'rolloutTimeoutSeconds' },
  FetchModel: { bucketName: 'bucket', regionName: 'region', targetFolder: 'destination', forcePathStyleAddressing: 'forcePathStyle' },
};

describe('input aliases', function () {
  this.timeout(60_000);

  for (const [task, aliases] of Object.entries(ALIASES)) {
    it(`${task} declares the aliases of the anchor tasks`, () => {
      const json = JSON.parse(readFileSync(join(root, 'tasks', task, 'task.json'), 'utf8')) as { inputs: Array<{ name: string; aliases?: string[] }> };
      for (const [alias, name] of Object.entries(aliases)) {
        const input = json.inputs.find((i) => i.name === name);
        assert.ok(input?.aliases?.includes(alias), `${task}.${name} lacks alias ${alias}`);
        assert.ok(!json.inputs.some((i) => i.name === alias), `${alias} is also an input name`);
      }
    });
  }

  it('the agent emulation maps an alias to its input and refuses both at once', () => {
    const taskJson = join(root, 'tasks', 'DeployToAKS', 'task.json');
    assert.deepEqual(canonicalInputs(taskJson, { azureResourceGroup: 'rg', image: 'x' }), { resourceGroup: 'rg', image: 'x' });
    assert.throws(() => canonicalInputs(taskJson, { azureResourceGroup: 'rg', resourceGroup: 'rg2' }), /alias of 'resourceGroup'/);
  });

  it("DeployToAKS run with KubernetesManifest@1's names reads them as its own inputs", async () => {
    const run = await runMock({
      task: 'DeployToAKS',
      inputs: {
        connectionType: 'azureResourceManager',
        azureSubscriptionConnection: 'arm',
        azureResourceGroup: 'rg-models',
        kubernetesCluster: 'aks-models',
        image: `127.0.0.1:9/models/resnet@sha256:${'a'.repeat(64)}`,
        rolloutStatusTimeout: 'soon',
      },
    });
    assert.equal(run.result, 'Failed');
    // The alias's value reached rolloutTimeoutSeconds, which refuses it by its own name.
    assert.match(run.message, /rolloutTimeoutSeconds/);
    assert.match(run.message, /'soon'/);

    const second = await runMock({
      task: 'DeployToAKS',
      inputs: {
        connectionType: 'azureResourceManager',
        azureSubscriptionConnection: 'arm',
        azureResourceGroup: 'rg-models',
        kubernetesCluster: 'aks-models',
        image: `127.0.0.1:9/models/resnet@sha256:${'a'.repeat(64)}`,
        rolloutStatusTimeout: '60',
      },
    });
    // azureSubscriptionConnection reached azureSubscription: the task looked for that connection.
    assert.match(second.message, /'arm' given in 'azureSubscription'/);
    assert.ok(second.stdout.includes('rolloutTimeoutSeconds=60'), 'rolloutStatusTimeout did not reach rolloutTimeoutSeconds');
  });
});
