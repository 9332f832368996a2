/**
 * The input grammars, as tables: what a user types into a task input and what
 * the tasks get (or the one-line error naming the input).
 */
import assert from 'node:assert/strict';
import { InputError } from '../../../shared/errors';
import {
  inputLines,
  listItems,
  parseCommand,
  parseEnvLines,
  parseKeyValues,
  parseMetadataFilter,
  parsePorts,
  parseRegistryHost,
  parseRegistryTags,
  parseRepository,
  parseSha256Hex,
  splitKeyValue,
} from '../../../shared/inputs/parse';

const rejects = (input: string, message: RegExp) => (e: unknown) => e instanceof InputError && e.input === input && message.test(e.message);

describe('inputs/parse', () => {
  describe('inputLines', () => {
    const table: Array<[string | undefined, string[]]> = [
      [undefined, []],
      ['', []],
      ['a', ['a']],
      ['  a  \r\n\n# comment\n b=2 \n  # indented comment', ['a', 'b=2']],
      ['x#y', ['x#y']],
    ];
    for (const [raw, expected] of table) it(`${JSON.stringify(raw)} -> ${JSON.stringify(expected)}`, () => assert.deepEqual(inputLines(raw), expected));
  });

  describe('listItems', () => {
    const table: Array<[string[], string[]]> = [
      [[], []],
      [['101'], ['101']],
      [
        ['101, latest', 'v1 v2', ',,'],
        ['101', 'latest', 'v1 v2'],
      ],
      [['a,b\tc'], ['a', 'b\tc']],
    ];
    for (const [lines, expected] of table) it(`${JSON.stringify(lines)} -> ${JSON.stringify(expected)}`, () => assert.deepEqual(listItems(lines), expected));
  });

  describe('splitKeyValue', () => {
    const table: Array<[string, { key: string; value: string } | undefined]> = [
      ['A=1', { key: 'A', value: '1' }],
      ['A=', { key: 'A', value: '' }],
      ['A=b=c', { key: 'A', value: 'b=c' }],
      [' A =  x', { key: 'A', value: '  x' }],
      ['=x', { key: '', value: 'x' }],
      ['NOEQUALS', undefined],
    ];
    for (const [line, expected] of table) it(`${JSON.stringify(line)}`, () => assert.deepEqual(splitKeyValue(line), expected));
  });

  describe('parseKeyValues', () => {
    it('keeps the first place and the last value of a repeated key', () => {
      assert.deepEqual(parseKeyValues(['A=1', 'B=2', 'A=3'], 'env', 'env'), [
        ['A', '3'],
        ['B', '2'],
      ]);
    });
    const bad: Array<[string, 'env' | 'labels']> = [
      ['NOEQUALS', 'env'],
      ['=x', 'env'],
      ['1BAD=x', 'env'],
      ['has space=x', 'env'],
      ['=x', 'labels'],
      ['a b=x', 'labels'],
    ];
    for (const [line, what] of bad)
      it(`rejects ${JSON.stringify(line)} as ${what}`, () => assert.throws(() => parseKeyValues([line], what, what), rejects(what, /KEY=VALUE/)));
    it('allows label keys that are not variable names', () => assert.deepEqual(parseKeyValues(['1.org/x=y'], 'labels', 'labels'), [['1.org/x', 'y']]));
  });

  describe('parseEnvLines', () => {
    it('keeps every line in order, values verbatim', () => {
      assert.deepEqual(parseEnvLines(['A=1', 'B= x ', 'A=2', '# c', '', 'my.var-1=a=b']), [
        { name: 'A', value: '1' },
        { name: 'B', value: ' x' },
        { name: 'A', value: '2' },
        { name: 'my.var-1', value: 'a=b' },
      ]);
    });
    for (const line of ['NOVALUE', '=x', '1BAD=x', 'a b=x'])
      it(`rejects ${JSON.stringify(line)}`, () => assert.throws(() => parseEnvLines([line], 'env'), rejects('env', /is not NAME=value/)));
  });

  describe('parsePorts', () => {
    const table: Array<[string[], string[]]> = [
      [[], []],
      [['8080'], ['8080/tcp']],
      [
        ['8080/TCP 8080', '53/udp,9000/sctp'],
        ['53/udp', '8080/tcp', '9000/sctp'],
      ],
      [
        ['1', '65535'],
        ['1/tcp', '65535/tcp'],
      ],
    ];
    for (const [values, expected] of table) it(`${JSON.stringify(values)}`, () => assert.deepEqual(parsePorts(values), expected));
    for (const bad of ['0', '65536', 'http', '80/icmp', '-1'])
      it(`rejects ${bad}`, () => assert.throws(() => parsePorts([bad]), rejects('ports', /invalid port/)));
  });

  describe('parseCommand', () => {
    const table: Array<[string | undefined, string[] | undefined]> = [
      [undefined, undefined],
      ['   ', undefined],
      ['["python", "-m", "serve"]', ['python', '-m', 'serve']],
      ['[]', []],
      ['python serve.py', ['python', 'serve.py']],
      ['  a   b  ', ['a', 'b']],
      [`python -c 'print(1 + 2)' "a b"`, ['python', '-c', 'print(1 + 2)', 'a b']],
      [`"say \\"hi\\"" 'it''s'`, ['say "hi"', 'its']],
      [`"a\\nb" 'c\\d'`, ['a\\nb', 'c\\d']],
      ['a\\ b c', ['a b', 'c']],
      ['"" x', ['', 'x']],
      // No shell: variables, operators and # stay as written (where shell-quote would expand or drop them).
      ['serve --port $PORT ${HOST}', ['serve', '--port', '$PORT', '${HOST}']],
      ['a; b | c && d > out # note', ['a;', 'b', '|', 'c', '&&', 'd', '>', 'out', '#', 'note']],
      ['*.onnx', ['*.onnx']],
    ];
    for (const [raw, expected] of table) it(`${JSON.stringify(raw)}`, () => assert.deepEqual(parseCommand(raw, 'cmd'), expected));
    const bad: Array<[string, RegExp]> = [
      ['[1,2]', /must be a JSON array of strings/],
      ['[not json', /starts with '\[' but is not a JSON array/],
      ['echo "unclosed', /unclosed " quote/],
      ["echo 'unclosed", /unclosed ' quote/],
    ];
    for (const [raw, message] of bad) it(`rejects ${raw}`, () => assert.throws(() => parseCommand(raw, 'entrypoint'), rejects('entrypoint', message)));
  });

  describe('parseMetadataFilter', () => {
    it('reads pairs from lines and commas', () =>
      assert.deepEqual(parseMetadataFilter('stage = production, team=ml\nx=a=b'), { stage: 'production', team: 'ml', x: 'a=b' }));
    it('rejects an entry without =', () => assert.throws(() => parseMetadataFilter('stage'), rejects('metadataFilter', /not a key=value pair/)));
  });

  describe('parseSha256Hex', () => {
    const hex = 'AB'.repeat(32);
    it('lower-cases 64 hex characters', () => assert.equal(parseSha256Hex(hex, 'modelSha256', 'hint'), hex.toLowerCase()));
    it('is undefined when empty', () => assert.equal(parseSha256Hex(undefined, 'modelSha256', 'hint'), undefined));
    for (const bad of [`sha256:${'a'.repeat(64)}`, 'a'.repeat(63), 'g'.repeat(64)]) {
      it(`rejects ${bad.slice(0, 12)}…`, () =>
        assert.throws(
          () => parseSha256Hex(bad, 'modelSha256', 'pass the output'),
          rejects('modelSha256', /must be 64 hexadecimal characters .*: pass the output\.$/),
        ));
    }
  });

  describe('parseRegistryTags', () => {
    it('one per line, or separated by commas', () => assert.deepEqual(parseRegistryTags(['101', 'latest, v1']), ['101', 'latest', 'v1']));
    it('a tag with a space is refused, not split', () =>
      assert.throws(() => parseRegistryTags(['v1 v2']), rejects('tags', /Tag 'v1 v2' in input 'tags' is not a valid tag/)));
    for (const bad of ['-bad', '.bad', 'a/b', 'x'.repeat(129)]) {
      it(`rejects ${bad.slice(0, 12)}`, () =>
        assert.throws(() => parseRegistryTags(['ok', bad]), rejects('tags', new RegExp(`Tag '${bad}' in input 'tags' is not a valid tag`))));
    }
  });

  describe('parseRegistryHost', () => {
    const table: Array<[string, string]> = [
      ['contoso.azurecr.io', 'contoso.azurecr.io'],
      [' https://Contoso.AzureCR.io/ ', 'contoso.azurecr.io'],
      ['http://127.0.0.1:5000', '127.0.0.1:5000'],
      ['[::1]:5000', '[::1]:5000'],
      ['index.docker.io', 'registry-1.docker.io'],
    ];
    for (const [raw, expected] of table)
      it(`${JSON.stringify(raw)} -> ${expected}`, () => assert.equal(parseRegistryHost(raw, 'azureContainerRegistry'), expected));
    for (const bad of ['', 'contoso.azurecr.io/v2', 'bad host', 'h:0']) {
      it(`rejects ${JSON.stringify(bad)}`, () =>
        assert.throws(
          () => parseRegistryHost(bad, 'azureContainerRegistry'),
          rejects('azureContainerRegistry', /must be a registry login server like contoso.azurecr.io/),
        ));
    }
  });

  describe('parseRepository', () => {
    const table: Array<[string, string]> = [
      ['models/scorer', 'models/scorer'],
      ['/models/scorer/', 'models/scorer'],
      ['contoso.azurecr.io/models/scorer', 'models/scorer'],
      ['scorer', 'scorer'],
    ];
    for (const [raw, expected] of table) it(`${JSON.stringify(raw)} -> ${expected}`, () => assert.equal(parseRepository(raw, 'contoso.azurecr.io'), expected));
    it('rejects a tag or digest', () =>
      assert.throws(() => parseRepository('models/scorer:1', 'contoso.azurecr.io'), rejects('repository', /without tag or digest/)));
    it('rejects upper case', () =>
      assert.throws(() => parseRepository('Models/Scorer', 'contoso.azurecr.io'), rejects('repository', /is not a valid repository name/)));
  });
});
