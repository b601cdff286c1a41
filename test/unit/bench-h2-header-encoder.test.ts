/**
 * The bench client's request header encoder, decoded by the server's HPACK decoder: the fields
 * decode the same from every block, the first block adds the repeated fields to the dynamic
 * table and later ones refer to them, and a smaller peer table turns indexing off.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestHeaderEncoder } from '../../bench/h2-header-encoder';
import { HpackDecoder } from '../../src/server/h2/hpack';

const AUTHORITY = '127.0.0.1:8001';
const expected = (path: string, timeout: string): [string, string][] => [
  [':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', AUTHORITY],
  ['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-timeout', timeout],
];
const block = (e: RequestHeaderEncoder, path: string, timeout: string): Buffer => {
  const prefix = e.prefix(path); // first: what it adds moves the indices timeoutField() uses
  return Buffer.concat([prefix, e.timeoutField(timeout)]);
};

describe('bench request header encoder', () => {
  test('blocks decode to the same fields; after the first, the repeated ones are indexed', () => {
    const e = new RequestHeaderEncoder(AUTHORITY);
    const d = new HpackDecoder();
    const infer = '/inference.GRPCInferenceService/ModelInfer';
    const stats = '/inference.GRPCInferenceService/ModelStatistics';
    const calls: [string, string][] = [[infer, '5000m'], [infer, '4999m'], [stats, '10S'], [infer, '3u'], [stats, '9S'], [infer, '1m']];
    const sizes = calls.map(([path, timeout]) => {
      const b = block(e, path, timeout);
      assert.deepEqual(d.decode(b), expected(path, timeout), `${path} ${timeout}`);
      return b.length;
    });
    // The first call spells out :path, :authority, content-type, te and grpc-timeout's name;
    // later ones to the same path send one byte per field, then grpc-timeout: its name's index
    // (2 bytes with a 4-bit prefix), a length byte and the value.
    assert.ok(sizes[0] as number > 100, `first block ${sizes[0]} bytes`);
    assert.equal(sizes[1], 6 + 2 + 1 + '4999m'.length);
    assert.equal(sizes[3], 6 + 2 + 1 + '3u'.length, 'the infer block is still indexed after another path was added');
    assert.equal(sizes[4], 6 + 2 + 1 + '9S'.length);
  });

  test('a peer table smaller than 4096 bytes: a size update to 0 opens the next block, then literals only', () => {
    const e = new RequestHeaderEncoder(AUTHORITY);
    const d = new HpackDecoder(4096);
    assert.deepEqual(d.decode(block(e, '/a', '1m')), expected('/a', '1m'));
    e.setPeerTableSize(100);
    const b = block(e, '/a', '2m');
    assert.equal(b[0], 0x20, 'a dynamic table size update to 0 first');
    assert.deepEqual(d.decode(b), expected('/a', '2m'));
    const next = block(e, '/a', '3m');
    assert.notEqual(next[0], 0x20, 'the update is sent once');
    assert.deepEqual(d.decode(next), expected('/a', '3m'));
    // A decoder whose table is 0 would reject any reference to an entry: none is made.
    const strict = new HpackDecoder(0);
    assert.deepEqual(strict.decode(next), expected('/a', '3m'));
  });
});
