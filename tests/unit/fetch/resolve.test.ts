import assert from 'node:assert/strict';
import { InputError, NotFoundError } from '../../../shared/errors';
import { compileInclude, completeVersionLookup, listOptionsFor, resolveModel, type ResolveOptions } from '../../../shared/fetch/resolve';
import { parseMetadataFilter } from '../../../shared/inputs/parse';
import type { StoredObject } from '../../../shared/storage/store';

const T0 = Date.parse('2026-01-01T00:00:00Z');
function o(key: string, minute: number, extra: Partial<StoredObject> = {}): StoredObject {
  return { key, size: 10, lastModified: new Date(T0 + minute * 60_000), etag: `e-${key}`, ...extra };
}

// A store with version folders (1.9.3 is the newest by time, 1.10.0 the highest).
const versionFolders = [
  o('models/resnet/1.9/model.onnx', 1),
  o('models/resnet/1.9.3/model.onnx', 50, { metadata: { stage: 'staging' } }),
  o('models/resnet/1.9.3/tokenizer/vocab.txt', 51),
  o('models/resnet/1.10.0/model.onnx', 30, { metadata: { stage: 'production' } }),
  o('models/resnet/1.10.0/config.json', 31),
  o('models/resnet/1.10.0/sub/', 31, { size: 0 }),
  o('models/resnet/experimental/model.onnx', 20),
  o('models/resnet/README.md', 99),
];
// Files carrying versions in their names.
const versionFiles = [
  o('models/bert/model-1.2.0.onnx', 5),
  o('models/bert/model-1.10.0.onnx', 2),
  o('models/bert/model-1.9.onnx', 9, { tags: { Stage: 'production' } }),
  o('models/bert/model-latest.onnx', 10),
];
// One model folder (mixed files, no versions).
const oneModel = [o('models/llm/model.safetensors', 3), o('models/llm/config.json', 4), o('models/llm/tokenizer/tokenizer.json', 2)];
// Run folders without version names.
const runFolders = [o('runs/run-a/model.pt', 1), o('runs/run-a/meta.json', 40), o('runs/run-b/model.pt', 30)];
const all = [...versionFolders, ...versionFiles, ...oneModel, ...runFolders, o('single/model.onnx', 7, { versionId: 'v-current' })];

interface Case {
  name: string;
  options: Partial<ResolveOptions> & { modelPath: string };
  kind?: 'file' | 'folder';
  version?: string;
  rootKey?: string;
  files?: string[];
  reason?: RegExp;
  lookup?: { key: string; versionId: string };
  error?: { type: typeof InputError | typeof NotFoundError; input: string; message: RegExp };
}

const cases: Case[] = [
  // latestModified
  {
    name: 'latestModified: version folder whose newest object is newest, whole',
    options: { modelPath: 'models/resnet/' },
    kind: 'folder',
    version: '1.9.3',
    rootKey: 'models/resnet/1.9.3/',
    files: ['model.onnx', 'tokenizer/vocab.txt'],
    reason: /newest object/,
  },
  {
    name: 'latestModified: folders without version names are candidates too',
    options: { modelPath: 'runs/' },
    kind: 'folder',
    version: 'run-a',
    rootKey: 'runs/run-a/',
    files: ['meta.json', 'model.pt'],
  },
  {
    name: 'latestModified: files with one extension are versions: newest file',
    options: { modelPath: 'models/bert/' },
    kind: 'file',
    rootKey: 'models/bert/model-latest.onnx',
    files: ['model-latest.onnx'],
    version: 'e-models/bert/model-latest.onnx',
  },
  {
    name: 'latestModified: a folder of mixed files is one model, fetched whole',
    options: { modelPath: 'models/llm/' },
    kind: 'folder',
    rootKey: 'models/llm/',
    files: ['config.json', 'model.safetensors', 'tokenizer/tokenizer.json'],
    reason: /one model/,
  },
  {
    name: 'exact key',
    options: { modelPath: 'single/model.onnx' },
    kind: 'file',
    rootKey: 'single/model.onnx',
    version: 'v-current',
    files: ['model.onnx'],
  },
  {
    name: 'a key without / that is a folder is taken as the prefix',
    options: { modelPath: 'models/llm' },
    kind: 'folder',
    rootKey: 'models/llm/',
  },
  {
    name: 'leading slash is ignored',
    options: { modelPath: '/single/model.onnx' },
    kind: 'file',
    rootKey: 'single/model.onnx',
  },
  // highestVersion
  {
    name: 'highestVersion: version folders compared numerically, non-versions ignored',
    options: { modelPath: 'models/resnet/', versionSelection: 'highestVersion' },
    kind: 'folder',
    version: '1.10.0',
    rootKey: 'models/resnet/1.10.0/',
    files: ['config.json', 'model.onnx'],
    reason: /ignored/,
  },
  {
    name: 'highestVersion: file names carrying versions',
    options: { modelPath: 'models/bert/', versionSelection: 'highestVersion' },
    kind: 'file',
    version: '1.10.0',
    rootKey: 'models/bert/model-1.10.0.onnx',
  },
  {
    name: 'highestVersion: nothing named like a version',
    options: { modelPath: 'runs/', versionSelection: 'highestVersion' },
    error: { type: NotFoundError, input: 'modelPath', message: /No folder or file directly under 'runs\/'.*run-a\//s },
  },
  // pinned
  {
    name: 'pinned: folder name',
    options: { modelPath: 'models/resnet/', versionSelection: 'pinned', version: '1.9' },
    kind: 'folder',
    version: '1.9',
    rootKey: 'models/resnet/1.9/',
    files: ['model.onnx'],
  },
  {
    name: 'pinned: equal version (v1.10 = 1.10.0)',
    options: { modelPath: 'models/resnet/', versionSelection: 'pinned', version: 'v1.10' },
    kind: 'folder',
    version: '1.10.0',
    rootKey: 'models/resnet/1.10.0/',
  },
  {
    name: 'pinned: file name',
    options: { modelPath: 'models/bert/', versionSelection: 'pinned', version: 'model-1.9.onnx' },
    kind: 'file',
    rootKey: 'models/bert/model-1.9.onnx',
  },
  {
    name: 'pinned: version token of a file name',
    options: { modelPath: 'models/bert/', versionSelection: 'pinned', version: '1.2' },
    kind: 'file',
    version: '1.2.0',
    rootKey: 'models/bert/model-1.2.0.onnx',
  },
  {
    name: 'pinned: absent under a prefix',
    options: { modelPath: 'models/resnet/', versionSelection: 'pinned', version: '2.0.0' },
    error: { type: NotFoundError, input: 'version', message: /pinned version '2\.0\.0'.*found '1\.9\/'/s },
  },
  {
    name: 'pinned: exact key with its current version id',
    options: { modelPath: 'single/model.onnx', versionSelection: 'pinned', version: 'v-current' },
    kind: 'file',
    version: 'v-current',
    rootKey: 'single/model.onnx',
    files: ['model.onnx'],
  },
  {
    name: 'pinned: exact key with another version id needs a head() lookup',
    options: { modelPath: 'single/model.onnx', versionSelection: 'pinned', version: 'v-old' },
    kind: 'file',
    version: 'v-old',
    rootKey: 'single/model.onnx',
    files: [],
    lookup: { key: 'single/model.onnx', versionId: 'v-old' },
  },
  {
    name: 'pinned: empty version input',
    options: { modelPath: 'models/resnet/', versionSelection: 'pinned', version: ' ' },
    error: { type: InputError, input: 'version', message: /version input is empty/ },
  },
  // metadata
  {
    name: 'metadata: the match inside a version folder selects that folder, whole',
    options: { modelPath: 'models/resnet/', versionSelection: 'metadata', metadataFilter: { Stage: 'production' } },
    kind: 'folder',
    version: '1.10.0',
    rootKey: 'models/resnet/1.10.0/',
    files: ['config.json', 'model.onnx'],
  },
  {
    name: 'metadata: tags count, keys case-insensitive; newest matching file',
    options: { modelPath: 'models/bert/', versionSelection: 'metadata', metadataFilter: { stage: 'production' } },
    kind: 'file',
    version: '1.9',
    rootKey: 'models/bert/model-1.9.onnx',
  },
  {
    name: 'metadata: values are exact, all pairs ANDed; no match names the input and the count',
    options: { modelPath: 'models/resnet/', versionSelection: 'metadata', metadataFilter: { stage: 'production', owner: 'x' } },
    error: {
      type: NotFoundError,
      input: 'metadataFilter',
      message: /No object under 'models\/resnet\/' in container 'models' matches stage=production, owner=x: 7 objects were checked/,
    },
  },
  {
    name: 'metadata: empty filter',
    options: { modelPath: 'models/resnet/', versionSelection: 'metadata', metadataFilter: {} },
    error: { type: InputError, input: 'metadataFilter', message: /metadataFilter input is empty/ },
  },
  {
    name: 'metadata: exact key that does not match',
    options: { modelPath: 'single/model.onnx', versionSelection: 'metadata', metadataFilter: { stage: 'production' } },
    error: { type: NotFoundError, input: 'metadataFilter', message: /does not match stage=production/ },
  },
  // include
  {
    name: 'include narrows a folder model (base-name match without /)',
    options: { modelPath: 'models/llm/', include: '*.json' },
    kind: 'folder',
    files: ['config.json', 'tokenizer/tokenizer.json'],
    reason: /include glob/,
  },
  {
    name: 'include with a path',
    options: { modelPath: 'models/llm/', include: 'tokenizer/**' },
    kind: 'folder',
    files: ['tokenizer/tokenizer.json'],
  },
  {
    name: 'include that matches nothing',
    options: { modelPath: 'models/llm/', include: '*.onnx' },
    error: { type: NotFoundError, input: 'include', message: /None of the 3 files .* matches the include glob '\*\.onnx'/ },
  },
  {
    name: 'invalid include glob',
    options: { modelPath: 'models/llm/', include: 'tokenizer/[abc' },
    error: { type: InputError, input: 'include', message: /include glob 'tokenizer\/\[abc' is not valid/ },
  },
  // no objects
  {
    name: 'prefix with no objects',
    options: { modelPath: 'nothing/' },
    error: { type: NotFoundError, input: 'modelPath', message: /No objects exist under 'nothing\/' in container 'models'/ },
  },
  {
    name: 'exact key that does not exist',
    options: { modelPath: 'single/model.on' },
    error: { type: NotFoundError, input: 'modelPath', message: /No object named 'single\/model\.on'.*single\/model\.onnx/ },
  },
  {
    name: 'empty modelPath',
    options: { modelPath: '  ' },
    error: { type: InputError, input: 'modelPath', message: /modelPath input is empty/ },
  },
];

describe('fetch/resolve', () => {
  for (const c of cases) {
    it(c.name, () => {
      const options: ResolveOptions = { versionSelection: 'latestModified', location: "container 'models'", ...c.options };
      if (c.error) {
        assert.throws(
          () => resolveModel(all, options),
          (err: unknown) => {
            assert.ok(err instanceof c.error!.type, `expected ${c.error!.type.name}, got ${String(err)}`);
            assert.equal((err as InputError).input, c.error!.input);
            assert.match((err as Error).message, c.error!.message);
            assert.ok(!(err as Error).message.includes('\n'), 'one sentence, one line');
            return true;
          },
        );
        return;
      }
      const m = resolveModel(all, options);
      if (c.kind) assert.equal(m.kind, c.kind);
      if (c.version) assert.equal(m.version, c.version);
      if (c.rootKey) assert.equal(m.rootKey, c.rootKey);
      if (c.files)
        assert.deepEqual(
          m.files.map((f) => f.relativePath),
          c.files,
        );
      if (c.reason) assert.match(m.reason, c.reason);
      assert.deepEqual(m.versionIdLookup, c.lookup);
      for (const f of m.files) assert.equal(f.object.key, m.kind === 'folder' ? m.rootKey + f.relativePath : m.rootKey);
      assert.ok(m.reason.length > 10);
    });
  }

  it('an unversioned folder gets a content id that changes with its contents', () => {
    const a = resolveModel(oneModel, { modelPath: 'models/llm/', versionSelection: 'latestModified' });
    const b = resolveModel([...oneModel.slice(1), { ...oneModel[0]!, etag: 'changed' }], { modelPath: 'models/llm/', versionSelection: 'latestModified' });
    assert.match(a.version, /^content-[0-9a-f]{16}$/);
    assert.notEqual(a.version, b.version);
  });

  it('a prefix that is itself a version folder takes its name as the version', () => {
    const objs = [o('models/bert/2.0.0/config.json', 1), o('models/bert/2.0.0/weights/model.bin', 2)];
    const m = resolveModel(objs, { modelPath: 'models/bert/2.0.0/', versionSelection: 'latestModified' });
    assert.equal(m.kind, 'folder');
    assert.equal(m.version, '2.0.0');
    assert.deepEqual(
      m.files.map((f) => f.relativePath),
      ['config.json', 'weights/model.bin'],
    );
  });

  it('ADLS directory blobs (hdi_isfolder / zero-size folder names) are not model files', () => {
    const objs = [
      o('m/1.0', 1, { size: 0 }),
      o('m/1.0/model.onnx', 2),
      o('m/2.0', 3, { size: 0, metadata: { hdi_isfolder: 'true' } }),
      o('m/2.0/model.onnx', 4),
    ];
    const m = resolveModel(objs, { modelPath: 'm/', versionSelection: 'highestVersion' });
    assert.equal(m.rootKey, 'm/2.0/');
    assert.deepEqual(
      m.files.map((f) => f.relativePath),
      ['model.onnx'],
    );
  });

  it('ties in modification time are broken by name, deterministically', () => {
    const objs = [o('t/a.onnx', 1), o('t/b.onnx', 1)];
    assert.equal(resolveModel(objs, { modelPath: 't/', versionSelection: 'latestModified' }).rootKey, 't/b.onnx');
    assert.equal(resolveModel([...objs].reverse(), { modelPath: 't/', versionSelection: 'latestModified' }).rootKey, 't/b.onnx');
  });

  it('objects outside modelPath are ignored', () => {
    const m = resolveModel(all, { modelPath: 'models/bert/model-1.9.onnx', versionSelection: 'latestModified' });
    assert.equal(m.files.length, 1);
  });

  describe('completeVersionLookup', () => {
    const pending = resolveModel(all, { modelPath: 'single/model.onnx', versionSelection: 'pinned', version: 'v-old' });
    it('fills in the head() result', () => {
      const m = completeVersionLookup(pending, o('single/model.onnx', 0, { versionId: 'v-old', etag: 'old' }));
      assert.equal(m.files.length, 1);
      assert.equal(m.files[0]!.object.versionId, 'v-old');
      assert.equal(m.versionIdLookup, undefined);
      assert.equal(m.version, 'v-old');
    });
    it('absent version -> NotFoundError naming the version input', () => {
      assert.throws(
        () => completeVersionLookup(pending, undefined, "bucket 'b'"),
        (e: unknown) => e instanceof NotFoundError && e.input === 'version' && /'v-old' of 'single\/model\.onnx' does not exist in bucket 'b'/.test(e.message),
      );
    });
    it('a model without lookup passes through', () => {
      const m = resolveModel(all, { modelPath: 'single/model.onnx', versionSelection: 'latestModified' });
      assert.equal(completeVersionLookup(m, undefined), m);
    });
  });

  describe('parseMetadataFilter', () => {
    const ok: Array<[string | undefined, Record<string, string>]> = [
      [undefined, {}],
      ['', {}],
      ['stage=production', { stage: 'production' }],
      [' stage = production , owner=ml-team ', { stage: 'production', owner: 'ml-team' }],
      ['stage=production\nowner=ml\r\n\n', { stage: 'production', owner: 'ml' }],
      ['url=a=b', { url: 'a=b' }],
      ['empty=', { empty: '' }],
      ['Stage=x, stage=x', { Stage: 'x' }],
    ];
    for (const [text, expected] of ok) it(`parses ${JSON.stringify(text)}`, () => assert.deepEqual(parseMetadataFilter(text), expected));
    const bad: Array<[string, RegExp]> = [
      ['stage', /'stage' is not a key=value pair/],
      ['=production', /'=production' is not a key=value pair/],
      ['stage=a, Stage=b', /twice with different values/],
      ['my key=v', /contains whitespace/],
    ];
    for (const [text, message] of bad) {
      it(`rejects ${JSON.stringify(text)}`, () =>
        assert.throws(
          () => parseMetadataFilter(text),
          (e: unknown) => e instanceof InputError && e.input === 'metadataFilter' && message.test(e.message),
        ));
    }
  });

  describe('compileInclude', () => {
    const valid: Array<[string, string[], string[]]> = [
      ['*.onnx', ['model.onnx', 'sub/x.onnx'], ['model.bin']],
      ['tokenizer/**', ['tokenizer/a.json', 'tokenizer/b/c'], ['model.onnx']],
      ['{model.onnx,config.json}', ['model.onnx', 'config.json'], ['x.json']],
      ['!*.md', ['model.onnx'], ['README.md']],
      ['.cfg/*', ['.cfg/a'], ['cfg/a']],
      ['file\\[1\\].bin', ['file[1].bin'], ['file1.bin']],
    ];
    for (const [glob, yes, no] of valid) {
      it(`'${glob}' matches ${yes.join(', ')}`, () => {
        const m = compileInclude(glob)!;
        for (const p of yes) assert.ok(m(p), p);
        for (const p of no) assert.ok(!m(p), p);
      });
    }
    it('blank means everything', () => assert.equal(compileInclude('  '), undefined));
    for (const glob of ['/abs/*.onnx', '../x/*', 'a/../b', '[abc', '{a,b', 'a}', '# comment']) {
      it(`rejects '${glob}'`, () =>
        assert.throws(
          () => compileInclude(glob),
          (e: unknown) => e instanceof InputError && e.input === 'include',
        ));
    }
  });

  it('listOptionsFor asks for metadata and tags only for metadata selection', () => {
    assert.deepEqual(listOptionsFor({ versionSelection: 'metadata' }), { includeMetadata: true, includeTags: true });
    assert.deepEqual(listOptionsFor({ versionSelection: 'highestVersion' }), { includeMetadata: false, includeTags: false });
  });
});
