import assert from 'node:assert/strict';
import { formatReference, isValidTag, makeReference, parseReference, sameRepository, sanitizeTag } from '../../../shared/oci/reference';
import { isLoopbackAuthority as isLoopbackRegistry } from '../../../shared/net/loopback';
import { InputError } from '../../../shared/errors';

const D = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  const valid: Array<[string, string, string, string | undefined, string | undefined]> = [
    // input, registry, repository, tag, digest
    ['busybox', 'registry-1.docker.io', 'library/busybox', undefined, undefined],
    ['busybox:1.36', 'registry-1.docker.io', 'library/busybox', '1.36', undefined],
    ['docker.io/busybox', 'registry-1.docker.io', 'library/busybox', undefined, undefined],
    ['index.docker.io/library/busybox:latest', 'registry-1.docker.io', 'library/busybox', 'latest', undefined],
    ['bitnami/redis:7', 'registry-1.docker.io', 'bitnami/redis', '7', undefined],
    ['contoso.azurecr.io/models/resnet:v1', 'contoso.azurecr.io', 'models/resnet', 'v1', undefined],
    ['localhost/app', 'localhost', 'app', undefined, undefined],
    ['localhost:5000/app:dev', 'localhost:5000', 'app', 'dev', undefined],
    ['127.0.0.1:5000/a/b/c:1', '127.0.0.1:5000', 'a/b/c', '1', undefined],
    ['[::1]:5000/app:1', '[::1]:5000', 'app', '1', undefined],
    ['[2001:db8::1]/app', '[2001:db8::1]', 'app', undefined, undefined],
    [`reg.example.com/app@${D}`, 'reg.example.com', 'app', undefined, D],
    [`reg.example.com:443/app:1.0@${D}`, 'reg.example.com:443', 'app', '1.0', D],
    ['Registry.Example.COM/app', 'registry.example.com', 'app', undefined, undefined],
    ['reg.io/a__b/c-d/e.f_g---h:_tag.-x', 'reg.io', 'a__b/c-d/e.f_g---h', '_tag.-x', undefined],
    [`reg.io/app:${'t'.repeat(128)}`, 'reg.io', 'app', 't'.repeat(128), undefined],
  ];
  for (const [input, registry, repository, tag, digest] of valid) {
    it(`parses ${input.length > 60 ? input.slice(0, 60) + '…' : input}`, () => {
      const r = parseReference(input);
      assert.equal(r.registry, registry);
      assert.equal(r.repository, repository);
      assert.equal(r.tag, tag);
      assert.equal(r.digest, digest);
      // round-trips through its string form
      const again = parseReference(r.toString());
      assert.equal(again.toString(), r.toString());
      assert.equal(String(r), formatReference(r));
    });
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['Busybox', /lowercase/],
    ['reg.io/MyApp:1', /lowercase/],
    ['reg.io/app:-bad', /tag '-bad'/],
    [`reg.io/app:${'t'.repeat(129)}`, /is not a valid tag/],
    ['reg.io/app@sha256:abc', /64 lowercase hex/],
    [`reg.io/app@sha256:${'A'.repeat(64)}`, /lowercase hex/],
    [`reg.io/app@md5:${'a'.repeat(32)}`, /only sha256/],
    ['reg.io/app@nodigest', /sha256:/],
    ['reg.io:99999/app', /not a valid port/],
    ['reg.io:abc/app', /valid port|registry host/],
    ['[::1/app', /closing/],
    ['reg.io/a//b', /empty path component/],
    ['reg.io/a-/b', /may only contain/],
    ['reg.io/', /repository name is empty/],
    ['https://reg.io/app', /URL scheme/],
    ['reg.io/app name', /whitespace/],
    ['-reg.io/app', /registry host name/],
  ];
  for (const [input, re] of invalid) {
    it(`rejects '${input.slice(0, 50)}'`, () => {
      assert.throws(
        () => parseReference(input, { input: 'repository' }),
        (err: unknown) => {
          assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
          assert.equal(err.input, 'repository');
          assert.match(err.message, re);
          assert.ok(!err.message.includes('\n'), 'one line');
          return true;
        },
      );
    });
  }

  it('applies a default tag only when there is neither tag nor digest', () => {
    assert.equal(parseReference('reg.io/app', { defaultTag: 'latest' }).tag, 'latest');
    assert.equal(parseReference('reg.io/app:1', { defaultTag: 'latest' }).tag, '1');
    assert.equal(parseReference(`reg.io/app@${D}`, { defaultTag: 'latest' }).tag, undefined);
  });

  it('validates and sanitises tags', () => {
    const cases: Array<[string, string]> = [
      ['1.2.3', '1.2.3'],
      ['v1+build/7', 'v1-build-7'],
      ['.hidden', '_.hidden'],
      ['-x', '_-x'],
      ['', '_'],
      ['model version 3', 'model-version-3'],
      ['ü', '_-'],
      ['a'.repeat(300), 'a'.repeat(128)],
    ];
    for (const [input, expected] of cases) {
      const t = sanitizeTag(input);
      assert.equal(t, expected, input);
      assert.ok(isValidTag(t), `${t} valid`);
    }
    assert.equal(isValidTag('ok_1.0-x'), true);
    assert.equal(isValidTag('.no'), false);
    assert.equal(isValidTag('a:b'), false);
  });

  it('compares repositories across Docker Hub aliases', () => {
    assert.ok(sameRepository(parseReference('busybox:1'), parseReference('docker.io/library/busybox@' + D)));
    assert.ok(!sameRepository(parseReference('reg.io/a'), parseReference('reg.io/b')));
    assert.ok(sameRepository({ registry: 'docker.io', repository: 'library/x' }, { registry: 'index.docker.io', repository: 'library/x' }));
  });

  it('builds references from parts and knows loopback hosts', () => {
    const r = makeReference('127.0.0.1:5000', 'models/app', { tag: '7' });
    assert.equal(r.toString(), '127.0.0.1:5000/models/app:7');
    assert.ok(isLoopbackRegistry('127.0.0.1:5000'));
    assert.ok(isLoopbackRegistry('[::1]:5000'));
    assert.ok(isLoopbackRegistry('localhost'));
    assert.ok(!isLoopbackRegistry('contoso.azurecr.io'));
    assert.ok(!isLoopbackRegistry('[2001:db8::1]:5000'));
  });
});
