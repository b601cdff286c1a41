/**
 * The bench client's HTTP/2 pieces: HPACK decoding against RFC 7541's Appendix C examples and
 * against nghttp2's encoder (node:http2), Huffman edge cases, and the frame reader on a byte
 * stream cut at every offset.
 */
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { H2Client } from '../../bench/h2-client';
import { type Frame, FrameReader, FrameType, frame, settingsFrame } from '../../src/server/h2/frames';
import { HpackDecoder, HpackError, indexedField, literalField } from '../../src/server/h2/hpack';
import { decodeHuffman, huffmanCode } from '../../src/server/h2/huffman';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('HPACK decoder', () => {
  /** RFC 7541 C.3 and C.4: three requests on one connection (one dynamic table), raw and Huffman-coded. */
  const REQUESTS: [string, string][][] = [
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
  ];
  const ENCODINGS: [string, string[]][] = [
    ['C.3, without Huffman coding', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
    ['C.4, Huffman-coded', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
  ];
  for (const [name, blocks] of ENCODINGS) {
    test(`RFC 7541 ${name}: three requests sharing a dynamic table`, () => {
      const d = new HpackDecoder();
      blocks.forEach((block, i) => assert.deepEqual(d.decode(hex(block)), REQUESTS[i]));
    });
  }

  test('the canonical code matches Appendix B where it is easy to check by hand', () => {
    assert.deepEqual(huffmanCode(48), [0x0, 5]); // '0'
    assert.deepEqual(huffmanCode(32), [0x14, 6]); // ' '
    assert.deepEqual(huffmanCode(0), [0x1ff8, 13]);
    assert.deepEqual(huffmanCode(255), [0x3ffffee, 26]);
    assert.deepEqual(huffmanCode(256), [0x3fffffff, 30]); // EOS
  });

  test('every octet round-trips through the Huffman code', () => {
    // Encode with the canonical codes, then decode.
    const bits: number[] = [];
    for (let b = 0; b < 256; b++) {
      const [code, len] = huffmanCode(b);
      for (let i = len - 1; i >= 0; i--) bits.push(Math.floor(code / 2 ** i) & 1);
    }
    while (bits.length % 8 !== 0) bits.push(1);
    const bytes = new Uint8Array(bits.length / 8);
    bits.forEach((bit, i) => { bytes[i >> 3] = (bytes[i >> 3] as number) | (bit << (7 - (i & 7))); });
    const r = decodeHuffman(bytes, 0, bytes.length);
    assert.ok('text' in r);
    assert.equal(r.text, Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join(''));
  });

  test('malformed input is refused with its reason', () => {
    assert.match((decodeHuffman(hex('00'), 0, 1) as { error: string }).error, /padding is not the prefix of EOS/);
    assert.match((decodeHuffman(hex('ffff'), 0, 2) as { error: string }).error, /padding of 16 bits/);
    assert.match((decodeHuffman(hex('ffff fffc'), 0, 4) as { error: string }).error, /EOS/);
    const bad: [string, RegExp][] = [
      ['80', /index 0/],
      ['be', /index 62 beyond the table/],
      ['4105 6162', /overruns the block/],
      ['82 3f e1 1f', /table size update after a header field/],
      ['3f e2 1f', /exceeds SETTINGS_HEADER_TABLE_SIZE 4096/],
      ['ff ff ff ff ff ff', /integer/],
    ];
    for (const [block, why] of bad) assert.throws(() => new HpackDecoder().decode(hex(block)), (e: unknown) => e instanceof HpackError && why.test(e.message));
  });

  test('a table size update evicts, and an entry larger than the table empties it', () => {
    const d = new HpackDecoder();
    d.decode(Buffer.from([...literalFieldIndexed('k', 'v')]));
    assert.deepEqual(d.decode(hex('be')), [['k', 'v']]);
    assert.throws(() => d.decode(hex('20 be')), /index 62 beyond/);
    const small = new HpackDecoder(40);
    small.decode(Buffer.from(literalFieldIndexed('name', 'a-value-that-is-too-long')));
    assert.throws(() => small.decode(hex('be')), /beyond/);
  });

  test('the encoder pieces decode back', () => {
    const block = Buffer.from([...indexedField(3), ...literalField(4, '/a/b'), ...literalField('grpc-timeout', '5000m'),
      ...literalField(31, 'x'.repeat(300))]);
    assert.deepEqual(new HpackDecoder().decode(block),
      [[':method', 'POST'], [':path', '/a/b'], ['grpc-timeout', '5000m'], ['content-type', 'x'.repeat(300)]]);
  });
});

/** §6.2.1 literal with incremental indexing and a literal name (for the tests only). */
function literalFieldIndexed(name: string, value: string): number[] {
  const lit = literalField(name, value);
  lit[0] = 0x40;
  return lit;
}

describe('frame reader', () => {
  test('frames come out whole however the byte stream is cut', () => {
    const stream = Buffer.concat([settingsFrame([[3, 100]]), frame(FrameType.DATA, 1, 1, Buffer.alloc(300, 7)),
      frame(FrameType.PING, 0, 0, Buffer.alloc(8, 1))]);
    const want = [[FrameType.SETTINGS, 0, 0, stream.subarray(9, 15)], [FrameType.DATA, 1, 1, Buffer.alloc(300, 7)],
      [FrameType.PING, 0, 0, Buffer.alloc(8, 1)]];
    // Cut twice, so a frame's header or payload can arrive in three pieces.
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b += a < 30 || b - a < 20 || stream.length - b < 20 ? 1 : 7) {
        const got: Frame[] = [];
        const r = new FrameReader();
        for (const piece of [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]) r.push(piece, (f) => got.push(f));
        assert.deepEqual(got.map((f) => [f.type, f.flags, f.streamId, f.payload]), want, `cut at ${a} and ${b}`);
      }
    }
  });

  test('a frame cut by a chunk is copied out alone; frames whole in a chunk are views of it, and no chunk is copied whole', () => {
    const stream = Buffer.concat([frame(FrameType.DATA, 0, 1, Buffer.alloc(100, 1)), frame(FrameType.DATA, 0, 1, Buffer.alloc(100, 2)),
      frame(FrameType.DATA, 0, 1, Buffer.alloc(100, 3))]);
    const first = Buffer.from(stream.subarray(0, 150));
    const second = Buffer.from(stream.subarray(150));
    const got: Frame[] = [];
    const r = new FrameReader();
    r.push(first, (f) => got.push(f));
    r.push(second, (f) => got.push(f));
    first.fill(0);
    second.fill(0);
    // The frames whole in a chunk are views of it (read at once, like the socket's reads); the cut one is not.
    assert.deepEqual(got.map((f) => f.payload[0]), [0, 2, 0]);
  });

  test('a frame over the maximum size is a connection error', () => {
    const big = Buffer.alloc(9);
    big.writeUIntBE(20_000, 0, 3);
    assert.throws(() => new FrameReader().push(big, () => undefined), /exceeds SETTINGS_MAX_FRAME_SIZE/);
  });
});

describe('H2Client against nghttp2\'s encoder', () => {
  test('every printable character and hundreds of distinct header values (dynamic-table evictions) decode', async () => {
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('').replace('%', '');
    // Numbered by arrival (one session, calls one at a time): each answer carries a header that
    // nghttp2 indexes, 40 names with values of varying length, so the 4 KiB table keeps evicting.
    let next = 0;
    const server = http2.createServer();
    server.on('stream', (stream) => {
      const n = next++;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', [`x-filler-${n % 40}`]: `value-${n}-${'z'.repeat(n % 50)}` },
        { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '9', 'grpc-message': `${n} ${printable}` }));
      stream.resume();
      stream.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new H2Client(`127.0.0.1:${(server.address() as AddressInfo).port}`, { sessions: 1 });
    try {
      for (let i = 0; i < 300; i++) {
        const details = await new Promise<string | undefined>((resolve) => client.unary('/t/M', Buffer.from('x'), 5_000, (code, d) => {
          assert.equal(code, 9);
          resolve(d);
        }));
        assert.equal(details, `${i} ${printable}`);
      }
    } finally {
      client.close();
      server.close();
    }
  });
});
