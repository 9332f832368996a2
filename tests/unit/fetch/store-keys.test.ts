/** The one check that keeps store keys from becoming paths outside the destination. */
import assert from 'node:assert/strict';
import { InputError, UserError } from '../../../shared/errors';
import { checkModelKeys, checkModelPathInput, unsafeKeyReason } from '../../../shared/fetch/keys';
import type { ResolvedModel } from '../../../shared/fetch/resolve';
import type { StoredObject } from '../../../shared/storage/store';

const obj = (key: string): StoredObject => ({ key, size: 1, lastModified: new Date(0) });

describe('fetch/keys: store keys used as local paths', () => {
  const table: Array<{ rel: string; why?: RegExp }> = [
    { rel: 'model.onnx' },
    { rel: 'tokenizer/vocab.txt' },
    { rel: 'a/b/c/d.bin' },
    { rel: '..hidden/x..y/...' },
    { rel: '.config/x' },
    { rel: 'name with spaces/ü.bin' },
    { rel: '../escaped.txt', why: /'\.\.'/ },
    { rel: 'v1/../../../../escaped.txt', why: /'\.\.'/ },
    { rel: 'v1/..', why: /'\.\.'/ },
    { rel: '..', why: /'\.\.'/ },
    { rel: './x', why: /'\.'/ },
    { rel: 'a/./x', why: /'\.'/ },
    { rel: 'a/.', why: /'\.'/ },
    { rel: 'a//x', why: /empty/ },
    { rel: 'a/', why: /empty/ },
    { rel: '', why: /empty/ },
    { rel: '/etc/passwd', why: /leading '\/'/ },
    { rel: 'a\\..\\..\\x', why: /backslash/ },
    { rel: 'a\\b', why: /backslash/ },
    { rel: 'a\0b', why: /NUL/ },
  ];
  for (const t of table) {
    it(`${t.why ? 'refuses' : 'accepts'} ${JSON.stringify(t.rel)}`, () => {
      const why = unsafeKeyReason(t.rel);
      if (t.why) assert.match(why ?? '', t.why);
      else assert.equal(why, undefined);
    });
  }

  const folder = (rootKey: string, keys: string[]): ResolvedModel => ({
    kind: 'folder',
    version: 'v1',
    rootKey,
    reason: '',
    files: keys.map((k) => ({ object: obj(k), relativePath: k.slice(rootKey.length) })),
  });

  it('names the key and the bucket in one line for a traversal under the model folder', () => {
    const model = folder('trav/v1/', ['trav/v1/ok.bin', 'trav/v1/../../../../escaped.txt']);
    assert.throws(
      () => checkModelKeys(model, 'trav/', "bucket 'models'"),
      (e: unknown) => {
        assert.ok(e instanceof UserError && !(e instanceof InputError), String(e));
        assert.equal(e.code, 'UnsafeStoreKey');
        assert.ok(e.message.includes('"trav/v1/../../../../escaped.txt"'), e.message);
        assert.ok(e.message.includes("bucket 'models'"), e.message);
        assert.ok(!/[\r\n]/.test(e.message));
        return true;
      },
    );
  });

  it('refuses a version folder literally named ..', () => {
    const model = folder('trav2/../', ['trav2/../weights.bin']);
    assert.throws(
      () => checkModelKeys(model, 'trav2/', "container 'c'"),
      (e: unknown) => e instanceof UserError && e.message.includes('"trav2/../weights.bin"') && e.message.includes("container 'c'"),
    );
  });

  it('refuses an empty folder segment right under the prefix', () => {
    const model = folder('trav//', ['trav//x.bin']);
    assert.throws(
      () => checkModelKeys(model, 'trav', "bucket 'b'"),
      (e: unknown) => e instanceof UserError && e.message.includes('"trav//x.bin"'),
    );
  });

  it('accepts an ordinary folder model and a single file', () => {
    checkModelKeys(folder('bert/2.0.0/', ['bert/2.0.0/config.json', 'bert/2.0.0/tok/vocab.txt']), 'bert/', "bucket 'b'");
    checkModelKeys(
      { kind: 'file', version: 'e', rootKey: 'm/model.onnx', reason: '', files: [{ object: obj('m/model.onnx'), relativePath: 'model.onnx' }] },
      'm/model.onnx',
      "bucket 'b'",
    );
  });

  const inputs: Array<{ modelPath: string; ok: boolean }> = [
    { modelPath: 'models/resnet/model.onnx', ok: true },
    { modelPath: 'models/resnet/', ok: true },
    { modelPath: 'models', ok: true },
    { modelPath: 'models/../secret/', ok: false },
    { modelPath: '../x', ok: false },
    { modelPath: 'a/..', ok: false },
    { modelPath: 'a/./b', ok: false },
    { modelPath: 'a//b', ok: false },
    { modelPath: 'a\\b', ok: false },
    { modelPath: 'a\0b', ok: false },
  ];
  for (const t of inputs) {
    it(`modelPath ${JSON.stringify(t.modelPath)} is ${t.ok ? 'accepted' : 'refused naming the input'}`, () => {
      if (t.ok) checkModelPathInput(t.modelPath);
      else
        assert.throws(
          () => checkModelPathInput(t.modelPath),
          (e: unknown) => e instanceof InputError && e.input === 'modelPath' && e.message.includes('modelPath'),
        );
    });
  }
});
