import assert from 'node:assert/strict';
import { compareVersions, parseVersion, versionInName } from '../../../shared/fetch/version';

/** Compare two names; names that are not versions sort below every version (and equal among themselves). */
function compareVersionNames(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (!va || !vb) return (va ? 1 : 0) - (vb ? 1 : 0);
  return compareVersions(va, vb);
}

describe('fetch/version', () => {
  describe('parseVersion accepts versions and rejects other names', () => {
    const cases: Array<[string, number[] | undefined, Array<string | number>?]> = [
      ['1', [1]],
      ['1.9', [1, 9]],
      ['1.10.0', [1, 10, 0]],
      ['v1.2', [1, 2]],
      ['V3', [3]],
      ['2024.05.01', [2024, 5, 1]],
      ['1.2.0-rc.1', [1, 2, 0], ['rc', 1]],
      ['1.2.0-beta+build.7', [1, 2, 0], ['beta']],
      ['1.2.0+build.7', [1, 2, 0], []],
      [' 1.2.3 ', [1, 2, 3]],
      ['latest', undefined],
      ['1.x', undefined],
      ['abc', undefined],
      ['', undefined],
      ['v', undefined],
      ['1..2', undefined],
      ['1.2.', undefined],
      ['.1.2', undefined],
      ['1.2.3-', undefined],
      ['model-1.2', undefined],
      ['99999999999999999999', undefined],
    ];
    for (const [text, numbers, pre] of cases) {
      it(`'${text}' -> ${numbers ? numbers.join('.') : 'not a version'}`, () => {
        const v = parseVersion(text);
        if (!numbers) {
          assert.equal(v, undefined);
          return;
        }
        assert.ok(v);
        assert.deepEqual(v.numbers, numbers);
        assert.deepEqual(v.prerelease, pre ?? []);
      });
    }
  });

  describe('compareVersions orders numerically, pre-releases below releases', () => {
    const ordered: Array<[string, string]> = [
      ['1.10.0', '1.9.3'],
      ['1.9.3', '1.9'],
      ['1.9', '1.8.99'],
      ['2', '1.99.99'],
      ['v1.2.1', '1.2'],
      ['1.2.0', '1.2.0-rc.2'],
      ['1.2.0-rc.10', '1.2.0-rc.2'],
      ['1.2.0-rc.1', '1.2.0-beta.5'],
      ['1.2.0-beta', '1.2.0-alpha.9'],
      ['1.2.0-alpha.1', '1.2.0-alpha'],
      ['1.2.0-alpha.beta', '1.2.0-alpha.1'],
      ['2024.11.02', '2024.5.30'],
      ['10', '9'],
    ];
    for (const [hi, lo] of ordered) {
      it(`${hi} > ${lo}`, () => {
        assert.ok(compareVersionNames(hi, lo) > 0);
        assert.ok(compareVersionNames(lo, hi) < 0);
      });
    }
    const equal: Array<[string, string]> = [
      ['1.9', '1.9.0'],
      ['v1.2', '1.2.0'],
      ['1.2.0+a', '1.2.0+b'],
    ];
    for (const [a, b] of equal) {
      it(`${a} == ${b}`, () => assert.equal(compareVersions(parseVersion(a)!, parseVersion(b)!), 0));
    }
    it('names that are not versions sort below versions', () => {
      assert.ok(compareVersionNames('0.0.1', 'latest') > 0);
      assert.ok(compareVersionNames('latest', '0.0.1') < 0);
      assert.equal(compareVersionNames('latest', 'stable'), 0);
    });
    it('sorting a mixed list', () => {
      const names = ['1.9', '1.10.0', '1.9.3', 'v1.2', '1.10.0-rc.1', '0.9'];
      const sorted = [...names].sort(compareVersionNames);
      assert.deepEqual(sorted, ['0.9', 'v1.2', '1.9', '1.9.3', '1.10.0-rc.1', '1.10.0']);
    });
  });

  describe('versionInName finds the version of a file name', () => {
    const cases: Array<[string, string | undefined]> = [
      ['model-1.2.0.onnx', '1.2.0'],
      ['model_v3.pt', 'v3'],
      ['resnet50-2.1.onnx', '2.1'],
      ['resnet50.onnx', undefined],
      ['model.onnx', undefined],
      ['model-2.0.0-rc.1.onnx', '2.0.0-rc.1'],
      ['model-1.2.0-fp16.onnx', '1.2.0'],
      ['1.4.0', '1.4.0'],
      ['v2.tar.gz', 'v2'],
      ['model-7.tar.gz', '7'],
      ['weights.v2.bin', 'v2'],
      ['bert-base-3.1.4-beta2.safetensors', '3.1.4-beta2'],
      ['model-12-1.3.onnx', '1.3'],
    ];
    for (const [name, token] of cases) {
      it(`'${name}' -> ${token ?? 'none'}`, () => assert.equal(versionInName(name)?.raw, token));
    }
  });
});
