/**
 * The pickers of the classic editor: every dataSourceBinding of every
 * tasks/<Name>/task.json targets an editable pick list of the task, is bound
 * to one of the task's own AzureRM connection inputs, passes parameters that
 * name inputs, and asks a data source Microsoft's own tasks use (the names and
 * endpoint URLs in tests/fixtures/microsoft-data-sources.json, each with the
 * task.json it was read from). The Azure resource inputs have their picker;
 * the S3 region lists the regions of the AWS SDK the task ships.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');

interface Input {
  name: string;
  type: string;
  visibleRule?: string;
  options?: Record<string, string>;
  properties?: Record<string, unknown>;
}
interface Binding {
  target?: string;
  endpointId?: string;
  dataSourceName?: string;
  endpointUrl?: string;
  parameters?: Record<string, string>;
  resultSelector?: string;
  resultTemplate?: string;
}
interface Task {
  name: string;
  inputs: Input[];
  dataSourceBindings?: Binding[];
}
interface Fixture {
  dataSourceNames: Array<{ name: string; readFrom: string; parameters?: string[] }>;
  endpointUrls: Array<{ url: string; resultSelector: string; resultTemplate: string; readFrom: string }>;
}

const fixture = JSON.parse(readFileSync(join(root, 'tests', 'fixtures', 'microsoft-data-sources.json'), 'utf8')) as Fixture;
const taskNames = readdirSync(join(root, 'tasks')).filter((n) => existsSync(join(root, 'tasks', n, 'task.json')));
const load = (name: string): Task => JSON.parse(readFileSync(join(root, 'tasks', name, 'task.json'), 'utf8')) as Task;

/** The Azure resource inputs that must offer a picker (issue 11). */
const AZURE_RESOURCE_INPUTS: Record<string, string[]> = {
  FetchModel: ['storageAccount', 'container'],
  PushToACR: ['azureContainerRegistry'],
  DeployToAKS: ['resourceGroup', 'kubernetesCluster'],
};

/** `$(name)` -> name; undefined for anything else. */
const macro = (s: string | undefined): string | undefined => s?.match(/^\$\(([A-Za-z][A-Za-z0-9]*)\)$/)?.[1];

/** Why `binding` is not one of Microsoft's data sources, or undefined when it is. */
export function unknownDataSource(binding: Binding, inputs: Set<string>): string | undefined {
  if (binding.dataSourceName !== undefined) {
    if (binding.endpointUrl !== undefined) return 'has both dataSourceName and endpointUrl';
    const known = fixture.dataSourceNames.find((d) => d.name === binding.dataSourceName);
    if (!known) return `data source '${binding.dataSourceName}' is not in tests/fixtures/microsoft-data-sources.json`;
    const keys = Object.keys(binding.parameters ?? {}).sort();
    if (JSON.stringify(keys) !== JSON.stringify([...(known.parameters ?? [])].sort()))
      return `parameters ${JSON.stringify(keys)} of '${binding.dataSourceName}' differ from ${known.readFrom}'s ${JSON.stringify(known.parameters ?? [])}`;
    return undefined;
  }
  if (binding.endpointUrl === undefined) return 'has neither dataSourceName nor endpointUrl';
  const url = binding.endpointUrl;
  const refs = [...url.matchAll(/\$\(([A-Za-z][A-Za-z0-9]*)\)/g)].map((m) => m[1] as string);
  for (const r of refs) if (!inputs.has(r)) return `endpointUrl names unknown input ${r}`;
  const generic = url.replace(/\$\([A-Za-z][A-Za-z0-9]*\)/g, '$(RESOURCE_GROUP_INPUT)');
  const known = fixture.endpointUrls.find((e) => e.url === generic);
  if (!known) return `endpointUrl ${url} is not in tests/fixtures/microsoft-data-sources.json`;
  if (binding.resultSelector !== known.resultSelector || binding.resultTemplate !== known.resultTemplate)
    return `resultSelector/resultTemplate differ from ${known.readFrom}'s for the same URL`;
  return undefined;
}

describe('dataSourceBindings (classic editor pickers)', () => {
  it('the fixture says where each data source was read from', () => {
    for (const d of [...fixture.dataSourceNames, ...fixture.endpointUrls])
      assert.match(d.readFrom, /^(microsoft\/azure-pipelines-tasks|aws\/aws-toolkit-azure-devops) \S+\/task\.json$/);
  });

  it("refuses a data source name that is not Microsoft's and an unknown URL", () => {
    const inputs = new Set(['rg']);
    assert.match(unknownDataSource({ dataSourceName: 'AzureStorageAccounts' }, inputs) ?? '', /not in tests\/fixtures/);
    assert.match(unknownDataSource({ endpointUrl: '{{{endpoint.url}}}/subscriptions/x' }, inputs) ?? '', /not in tests\/fixtures/);
    assert.match(unknownDataSource({ dataSourceName: 'AzureStorageContainer' }, inputs) ?? '', /parameters/);
    assert.equal(unknownDataSource({ dataSourceName: 'AzureStorageContainer', parameters: { storageAccount: '$(x)' } }, inputs), undefined);
  });

  for (const name of taskNames) {
    describe(name, () => {
      const task = load(name);
      const byName = new Map(task.inputs.map((i) => [i.name, i]));
      const bindings = task.dataSourceBindings ?? [];

      it("binds each picker to an input of the task, through its own AzureRM connection, with Microsoft's data sources", () => {
        for (const b of bindings) {
          const where = `binding for ${b.target}`;
          const target = b.target !== undefined ? byName.get(b.target) : undefined;
          assert.ok(target, `${where}: target is not an input of ${name}`);
          assert.equal(target.type, 'pickList', `${where}: the target must be a pickList`);
          assert.equal(target.properties?.EditableOptions, 'True', `${where}: the target must keep EditableOptions True (variables, YAML values)`);
          const connection = macro(b.endpointId);
          assert.ok(connection, `${where}: endpointId ${b.endpointId} is not $(input)`);
          assert.equal(byName.get(connection)?.type, 'connectedService:AzureRM', `${where}: endpointId names ${connection}, not an AzureRM connection input`);
          for (const [key, value] of Object.entries(b.parameters ?? {})) {
            const ref = macro(value);
            assert.ok(ref && byName.has(ref), `${where}: parameter ${key} = ${value} does not name an input`);
          }
          assert.equal(unknownDataSource(b, new Set(byName.keys())), undefined, `${where}: ${unknownDataSource(b, new Set(byName.keys()))}`);
        }
        assert.equal(new Set(bindings.map((b) => b.target)).size, bindings.length, 'one binding per target');
      });

      it('gives every Azure resource input a picker', () => {
        for (const input of AZURE_RESOURCE_INPUTS[name] ?? []) {
          assert.ok(
            bindings.some((b) => b.target === input),
            `${name}.${input} has no dataSourceBinding`,
          );
        }
      });
    });
  }

  it("lists the AWS SDK's regions in FetchModel's region picker, editable", () => {
    const region = load('FetchModel').inputs.find((i) => i.name === 'region');
    assert.equal(region?.type, 'pickList');
    assert.equal(region.properties?.EditableOptions, 'True');
    const src = readFileSync(
      require.resolve('@aws-sdk/core/package.json').replace(/package\.json$/, 'dist-es/submodules/client/util-endpoints/lib/aws/partitions.js'),
      'utf8',
    );
    const info = JSON.parse(src.slice(src.indexOf('{'), src.lastIndexOf('}') + 1)) as {
      partitions: Array<{ regions: Record<string, { description: string }> }>;
    };
    const expected: Record<string, string> = {};
    for (const p of info.partitions)
      for (const [code, r] of Object.entries(p.regions)) if (!code.endsWith('-global')) expected[code] = `${r.description} [${code}]`;
    assert.ok(Object.keys(expected).includes('eu-west-1'));
    assert.deepEqual(region.options, expected, 'regenerate the region options from the installed @aws-sdk/core partitions');
  });
});
