/** shared/oci/platform: parse, format and match `os/arch[/variant]` (one module for layout, pull, image-info). */
import assert from 'node:assert/strict';
import { InputError } from '../../../shared/errors';
import { DEFAULT_PLATFORM, findPlatform, formatPlatform, listPlatforms, parsePlatform, platformMatches } from '../../../shared/oci/platform';
import type { Platform } from '../../../shared/oci/types';

describe('platform', () => {
  const parsed: Array<[string | undefined, Platform | 'error']> = [
    [undefined, { os: 'linux', architecture: 'amd64' }],
    ['', { os: 'linux', architecture: 'amd64' }],
    ['  linux/arm64  ', { os: 'linux', architecture: 'arm64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['windows/amd64', { os: 'windows', architecture: 'amd64' }],
    ['amd64', 'error'],
    ['linux/arm/v7/x', 'error'],
    ['Linux/amd64', 'error'],
    ['linux//amd64', 'error'],
    ['linux/amd 64', 'error'],
  ];
  for (const [raw, expected] of parsed) {
    it(`parsePlatform(${JSON.stringify(raw)})`, () => {
      if (expected === 'error')
        assert.throws(
          () => parsePlatform(raw, 'platform'),
          (e: unknown) => e instanceof InputError && e.message.includes("Input 'platform'"),
        );
      else assert.deepEqual(parsePlatform(raw), expected);
    });
  }

  const formatted: Array<[Platform | undefined, string]> = [
    [undefined, 'unknown'],
    [DEFAULT_PLATFORM, 'linux/amd64'],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7'],
  ];
  for (const [p, text] of formatted) it(`formatPlatform -> ${text}`, () => assert.equal(formatPlatform(p), text));

  const amd64 = { os: 'linux', architecture: 'amd64' };
  const arm64 = { os: 'linux', architecture: 'arm64' };
  const arm64v8 = { ...arm64, variant: 'v8' };
  const armv7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
  const armv6 = { os: 'linux', architecture: 'arm', variant: 'v6' };
  const matches: Array<[Platform | undefined, Platform, boolean]> = [
    // candidate, wanted, matches
    [amd64, amd64, true],
    [undefined, amd64, false],
    [{ os: 'windows', architecture: 'amd64' }, amd64, false],
    [arm64, amd64, false],
    [arm64v8, arm64, true], // no variant wanted: any variant does
    [arm64v8, arm64v8, true],
    [arm64, arm64v8, true], // arm64 without a variant is v8
    [armv7, armv7, true],
    [armv6, armv7, false],
    [{ os: 'linux', architecture: 'arm' }, armv7, false],
  ];
  for (const [candidate, wanted, ok] of matches) {
    it(`platformMatches(${formatPlatform(candidate)}, wanted ${formatPlatform(wanted)}) is ${ok}`, () => assert.equal(platformMatches(candidate, wanted), ok));
  }

  it('findPlatform takes the first matching entry; listPlatforms names them all', () => {
    const entries = [{ digest: 'a', platform: armv6 }, { digest: 'b' }, { digest: 'c', platform: armv7 }, { digest: 'd', platform: armv7 }];
    assert.equal(findPlatform(entries, armv7)?.digest, 'c');
    assert.equal(findPlatform(entries, amd64), undefined);
    assert.equal(listPlatforms(entries), 'linux/arm/v6, unknown, linux/arm/v7, linux/arm/v7');
    assert.equal(listPlatforms([]), '');
  });
});
