import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import type { ErrorCode } from '../../src/runtime/status';
import {
  MESSAGE_PREFIX_BYTES, MessageReader, encodeGrpcMessage, frameMessage, parseGrpcTimeout,
} from '../../src/server/grpc-wire';

const failsWith = (code: ErrorCode, message: RegExp): object => ({ name: 'SluiceError', code, message });

/** A frame with an explicit flag (frameMessage always writes 0). */
function frame(flag: number, body: Buffer): Buffer {
  const out = frameMessage(body);
  out[0] = flag;
  return out;
}

/** Only the 5-byte header of a frame announcing `length` bytes. */
function header(length: number, flag = 0): Buffer {
  const h = Buffer.alloc(MESSAGE_PREFIX_BYTES);
  h[0] = flag;
  h.writeUInt32BE(length, 1);
  return h;
}

/** Pushes every chunk in turn; returns all messages (as hex, for readable diffs) and `pending` after each push. */
function feed(reader: MessageReader, chunks: Buffer[]): { messages: string[]; pending: boolean[] } {
  const messages: string[] = [];
  const pending: boolean[] = [];
  for (const c of chunks) {
    for (const m of reader.push(c)) messages.push(m.toString('hex'));
    pending.push(reader.pending);
  }
  return { messages, pending };
}

const payload = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('frameMessage', () => {
  test('writes flag 0, the big-endian length and the bytes', () => {
    assert.deepEqual(frameMessage(Buffer.from('abc')), Buffer.from([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]));
    assert.deepEqual(frameMessage(Buffer.alloc(0)), Buffer.from([0, 0, 0, 0, 0]));
    assert.deepEqual(frameMessage([Buffer.from('a'), new Uint8Array(0), Buffer.from('bc')]), frameMessage(Buffer.from('abc')));
    assert.deepEqual(frameMessage([]), Buffer.from([0, 0, 0, 0, 0]));
    const big = frameMessage(Buffer.alloc(0x10203));
    assert.deepEqual(big.subarray(0, 5), Buffer.from([0, 0, 1, 2, 3]));
    assert.equal(big.length, 0x10203 + 5);
  });
});

describe('MessageReader', () => {
  test('a whole message in one chunk', () => {
    const r = new MessageReader(1024, undefined);
    const body = payload(100);
    const out = r.push(frameMessage(body));
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], body);
    assert.equal(r.pending, false);
  });

  test('a message is a copy, not a view of the chunk it came in (which would keep the whole socket read)', () => {
    const body = payload(100);
    const chunk = Buffer.concat([Buffer.alloc(7), frameMessage(body)]).subarray(7);
    const [single] = new MessageReader(1024, undefined).push(chunk);
    const two = frameMessage(payload(3));
    const both = Buffer.concat([two, frameMessage(body)]);
    const [first, second] = new MessageReader(1024, undefined).push(both);
    chunk.fill(0);
    both.fill(0);
    assert.deepEqual(single, body);
    assert.deepEqual(second, body);
    assert.deepEqual(first, payload(3));
  });

  test('a copied message ends on an 8-byte boundary (its last tensor then decodes as a view)', () => {
    for (let size = 0; size < 24; size++) {
      for (let offset = 0; offset < 8; offset++) {
        const body = payload(size);
        const chunk = Buffer.concat([Buffer.alloc(offset), frameMessage(body)]).subarray(offset);
        const [out] = new MessageReader(1024, undefined).push(chunk);
        assert.deepEqual(out, body, `size ${size}, offset ${offset}`);
        assert.equal(((out?.byteOffset ?? 1) + size) % 8, 0, `size ${size}, offset ${offset}`);
      }
    }
  });

  test('an empty message in one chunk, and one arriving in pieces', () => {
    const r = new MessageReader(1024, undefined);
    assert.deepEqual(r.push(frameMessage(Buffer.alloc(0))), [Buffer.alloc(0)]);
    assert.equal(r.pending, false);
    const f = frameMessage(Buffer.alloc(0));
    assert.deepEqual(r.push(f.subarray(0, 2)), []);
    assert.equal(r.pending, true);
    assert.deepEqual(r.push(f.subarray(2)), [Buffer.alloc(0)]);
    assert.equal(r.pending, false);
  });

  test('a message split into 2 chunks at every split point (header included)', () => {
    const body = payload(12);
    const f = frameMessage(body);
    for (let i = 1; i < f.length; i++) {
      const r = new MessageReader(1024, undefined);
      const { messages, pending } = feed(r, [f.subarray(0, i), f.subarray(i)]);
      assert.deepEqual(messages, [body.toString('hex')], `split at ${i}`);
      assert.deepEqual(pending, [true, false], `split at ${i}`);
    }
  });

  test('a message split into 3 chunks at every pair of split points', () => {
    const body = payload(9);
    const f = frameMessage(body);
    for (let i = 1; i < f.length; i++) {
      for (let j = i + 1; j < f.length; j++) {
        const r = new MessageReader(1024, undefined);
        const { messages, pending } = feed(r, [f.subarray(0, i), f.subarray(i, j), f.subarray(j)]);
        assert.deepEqual(messages, [body.toString('hex')], `split at ${i}, ${j}`);
        assert.deepEqual(pending, [true, true, false], `split at ${i}, ${j}`);
      }
    }
  });

  test('two messages back to back, split at every pair of points, come out whole and in order', () => {
    const a = payload(6, 1);
    const b = payload(4, 7);
    const wire = Buffer.concat([frameMessage(a), frameMessage(b)]);
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const r = new MessageReader(1024, undefined);
        const chunks = [wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)].filter((c) => c.length > 0);
        const { messages } = feed(r, chunks);
        assert.deepEqual(messages, [a.toString('hex'), b.toString('hex')], `split at ${i}, ${j}`);
        assert.equal(r.pending, false);
      }
    }
  });

  test('several messages in one chunk', () => {
    const bodies = [payload(3, 1), Buffer.alloc(0), payload(200, 2), payload(1, 3)];
    const r = new MessageReader(1024, undefined);
    const out = r.push(Buffer.concat(bodies.map(frameMessage)));
    assert.deepEqual(out, bodies);
    assert.equal(r.pending, false);
  });

  test('several messages and the start of another in one chunk; the rest completes it', () => {
    const bodies = [payload(3, 1), payload(4, 2), payload(5, 3)];
    const wire = Buffer.concat(bodies.map(frameMessage));
    const cut = wire.length - 3;
    const r = new MessageReader(1024, undefined);
    assert.deepEqual(r.push(wire.subarray(0, cut)), bodies.slice(0, 2));
    assert.equal(r.pending, true);
    assert.deepEqual(r.push(wire.subarray(cut)), bodies.slice(2));
    assert.equal(r.pending, false);
  });

  test('a body that ends mid-message leaves `pending` set (in the header and in the body)', () => {
    const f = frameMessage(payload(10));
    const inHeader = new MessageReader(1024, undefined);
    assert.deepEqual(inHeader.push(f.subarray(0, 3)), []);
    assert.equal(inHeader.pending, true);
    const inBody = new MessageReader(1024, undefined);
    assert.deepEqual(inBody.push(f.subarray(0, 9)), []);
    assert.equal(inBody.pending, true);
    const afterOne = new MessageReader(1024, undefined);
    assert.equal(afterOne.push(Buffer.concat([f, f.subarray(0, 1)])).length, 1);
    assert.equal(afterOne.pending, true);
  });

  test('a message of exactly maxBytes is accepted', () => {
    const r = new MessageReader(64, undefined);
    assert.deepEqual(r.push(frameMessage(payload(64))), [payload(64)]);
    const split = new MessageReader(64, undefined);
    const f = frameMessage(payload(64));
    assert.deepEqual(split.push(f.subarray(0, 10)), []);
    assert.deepEqual(split.push(f.subarray(10)), [payload(64)]);
  });

  test('an oversize message is refused from its header, before its body arrives', () => {
    const tooBig = /received message larger than max \(65 vs\. 64\)/;
    // Only the header.
    assert.throws(() => new MessageReader(64, undefined).push(header(65)), failsWith('RESOURCE_EXHAUSTED', tooBig));
    // The header and part of the body.
    assert.throws(() => new MessageReader(64, undefined).push(frameMessage(payload(65)).subarray(0, 20)),
      failsWith('RESOURCE_EXHAUSTED', tooBig));
    // The header itself split over two chunks: refused once its 5th byte arrives.
    const r = new MessageReader(64, undefined);
    assert.deepEqual(r.push(header(65).subarray(0, 4)), []);
    assert.throws(() => r.push(header(65).subarray(4)), failsWith('RESOURCE_EXHAUSTED', tooBig));
    // A huge announced length (4 GiB - 1) with no body at all.
    assert.throws(() => new MessageReader(1024, undefined).push(header(0xffffffff)),
      failsWith('RESOURCE_EXHAUSTED', /4294967295 vs\. 1024/));
    // A whole oversize message in one chunk (the fast path).
    assert.throws(() => new MessageReader(64, undefined).push(frameMessage(payload(65))), failsWith('RESOURCE_EXHAUSTED', tooBig));
    // An oversize second message after a good first one in the same chunk.
    assert.throws(() => new MessageReader(64, undefined).push(Buffer.concat([frameMessage(payload(3)), header(1000)])),
      failsWith('RESOURCE_EXHAUSTED', /1000 vs\. 64/));
  });

  test('a large message in many chunks is copied a bounded number of times, whatever the first chunk', () => {
    // Counts the bytes Buffer.concat copies while a 1 MiB message arrives in 16 KiB DATA chunks.
    const size = 1024 * 1024;
    const f = frameMessage(payload(size));
    const concat = Buffer.concat;
    for (const firstChunk of [16384, 5, 3, 1]) {
      let copied = 0;
      Buffer.concat = ((list: readonly Uint8Array[], totalLength?: number): Buffer => {
        const out = concat(list, totalLength);
        copied += out.length;
        return out;
      }) as typeof Buffer.concat;
      try {
        const r = new MessageReader(2 * size, undefined);
        const got: Buffer[] = [...r.push(f.subarray(0, firstChunk))];
        for (let at = firstChunk; at < f.length; at += 16384) got.push(...r.push(f.subarray(at, at + 16384)));
        assert.equal(got.length, 1);
        assert.equal(got[0]?.length, size);
      } finally {
        Buffer.concat = concat;
      }
      assert.ok(copied <= 3 * size, `first chunk of ${firstChunk} bytes: ${copied} bytes copied for a ${size}-byte message`);
    }
  });

  test('compressed flag with grpc-encoding gzip', () => {
    const body = Buffer.from('hello gzip '.repeat(50));
    const r = new MessageReader(4096, 'gzip');
    assert.deepEqual(r.push(frame(1, zlib.gzipSync(body))), [body]);
    // Uncompressed messages are still accepted on a gzip call.
    assert.deepEqual(r.push(frameMessage(Buffer.from('plain'))), [Buffer.from('plain')]);
    // Compressed and split.
    const f = frame(1, zlib.gzipSync(body));
    assert.deepEqual(r.push(f.subarray(0, 7)), []);
    assert.deepEqual(r.push(f.subarray(7)), [body]);
  });

  test('compressed flag with grpc-encoding deflate (zlib format)', () => {
    const body = Buffer.from('hello deflate '.repeat(50));
    const r = new MessageReader(4096, 'deflate');
    assert.deepEqual(r.push(frame(1, zlib.deflateSync(body))), [body]);
  });

  test('the size limit applies after decompression; exactly maxBytes decompressed passes', () => {
    const r = new MessageReader(1000, 'gzip');
    assert.deepEqual(r.push(frame(1, zlib.gzipSync(Buffer.alloc(1000, 7)))), [Buffer.alloc(1000, 7)]);
    assert.throws(() => new MessageReader(1000, 'gzip').push(frame(1, zlib.gzipSync(Buffer.alloc(1001, 7)))),
      failsWith('RESOURCE_EXHAUSTED', /decompressed message larger than max \(1000\)/));
  });

  test('a decompression bomb larger than the limit is RESOURCE_EXHAUSTED', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024));
    assert.ok(bomb.length < 100 * 1024, `bomb is small on the wire (${bomb.length})`);
    assert.throws(() => new MessageReader(1024 * 1024, 'gzip').push(frame(1, bomb)),
      failsWith('RESOURCE_EXHAUSTED', /decompressed message larger than max/));
    const deflateBomb = zlib.deflateSync(Buffer.alloc(16 * 1024 * 1024));
    assert.throws(() => new MessageReader(1024 * 1024, 'deflate').push(frame(1, deflateBomb)),
      failsWith('RESOURCE_EXHAUSTED', /decompressed message larger than max/));
  });

  test('corrupt compressed bytes are INTERNAL', () => {
    assert.throws(() => new MessageReader(1024, 'gzip').push(frame(1, Buffer.from('not gzip at all'))),
      failsWith('INTERNAL', /cannot decompress gzip message/));
    assert.throws(() => new MessageReader(1024, 'deflate').push(frame(1, Buffer.from('not deflate'))),
      failsWith('INTERNAL', /cannot decompress deflate message/));
    // gzip bytes on a call that says deflate.
    assert.throws(() => new MessageReader(1024, 'deflate').push(frame(1, zlib.gzipSync(Buffer.from('x')))),
      failsWith('INTERNAL', /cannot decompress deflate message/));
  });

  test('compressed flag with no grpc-encoding, or identity, is INTERNAL', () => {
    const f = frame(1, zlib.gzipSync(Buffer.from('x')));
    assert.throws(() => new MessageReader(1024, undefined).push(f),
      failsWith('INTERNAL', /compressed message received but grpc-encoding names no compression/));
    assert.throws(() => new MessageReader(1024, 'identity').push(f),
      failsWith('INTERNAL', /grpc-encoding names no compression/));
  });

  test('compressed flag with an unknown grpc-encoding is UNIMPLEMENTED', () => {
    const f = frame(1, Buffer.from('whatever'));
    assert.throws(() => new MessageReader(1024, 'snappy').push(f),
      failsWith('UNIMPLEMENTED', /unsupported grpc-encoding 'snappy' \(accepted: identity,gzip,deflate\)/));
    // A long encoding name is cut in the message.
    assert.throws(() => new MessageReader(1024, 'z'.repeat(500)).push(f), (e: Error) => {
      assert.equal((e as { code?: unknown }).code, 'UNIMPLEMENTED');
      assert.ok(e.message.length < 200, e.message);
      return true;
    });
    // Uncompressed messages on such a call are fine: the encoding only matters for flag 1.
    assert.deepEqual(new MessageReader(1024, 'snappy').push(frameMessage(Buffer.from('ok'))), [Buffer.from('ok')]);
  });

  test('flag 2 (or any flag other than 0 and 1) is INTERNAL', () => {
    assert.throws(() => new MessageReader(1024, undefined).push(frame(2, Buffer.from('x'))),
      failsWith('INTERNAL', /invalid gRPC message flag 2/));
    assert.throws(() => new MessageReader(1024, 'gzip').push(frame(0x80, Buffer.from('x'))),
      failsWith('INTERNAL', /invalid gRPC message flag 128/));
    // Through the buffered path as well.
    const r = new MessageReader(1024, undefined);
    const f = frame(2, Buffer.from('xyz'));
    assert.deepEqual(r.push(f.subarray(0, 6)), []);
    assert.throws(() => r.push(f.subarray(6)), failsWith('INTERNAL', /invalid gRPC message flag 2/));
  });
});

describe('parseGrpcTimeout', () => {
  test('every unit, in milliseconds', () => {
    assert.equal(parseGrpcTimeout('2H'), 7_200_000);
    assert.equal(parseGrpcTimeout('3M'), 180_000);
    assert.equal(parseGrpcTimeout('5S'), 5000);
    assert.equal(parseGrpcTimeout('100m'), 100);
    assert.equal(parseGrpcTimeout('0m'), 0);
    const close = (a: number | undefined, b: number): void => {
      assert.ok(a !== undefined && Math.abs(a - b) <= Math.abs(b) * 1e-12, `${a} ≈ ${b}`);
    };
    close(parseGrpcTimeout('2500u'), 2.5);
    close(parseGrpcTimeout('7u'), 0.007);
    close(parseGrpcTimeout('3000000n'), 3);
    close(parseGrpcTimeout('6n'), 0.000006);
    assert.equal(parseGrpcTimeout('99999999S'), 99_999_999_000, '8 digits');
    assert.equal(parseGrpcTimeout('00000010S'), 10_000, 'leading zeros');
  });

  test('absent is undefined', () => {
    assert.equal(parseGrpcTimeout(undefined), undefined);
  });

  test('malformed values are INVALID_ARGUMENT', () => {
    // '7S, 1m' is how a repeated header arrives.
    for (const bad of ['', '10', '123456789S', '1x', '-1S', 'S', ' 1S', '1S ', '1.5S', '1s', '1h', '+1S', '1SS', '0x1S', '7S, 1m']) {
      assert.throws(() => parseGrpcTimeout(bad), failsWith('INVALID_ARGUMENT', /malformed grpc-timeout/), JSON.stringify(bad));
    }
    // The value in the message is cut short.
    assert.throws(() => parseGrpcTimeout('9'.repeat(1000)), (e: Error) => e.message.length < 80);
  });
});

describe('encodeGrpcMessage', () => {
  test('printable ASCII other than % is unchanged', () => {
    let printable = '';
    for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x25) printable += String.fromCharCode(c);
    assert.equal(encodeGrpcMessage(printable), printable);
    assert.equal(encodeGrpcMessage("model 'x' not found (version 3): shape [1,2]"), "model 'x' not found (version 3): shape [1,2]");
    assert.equal(encodeGrpcMessage(''), '');
  });

  test('% is percent-encoded', () => {
    assert.equal(encodeGrpcMessage('100%'), '100%25');
    assert.equal(encodeGrpcMessage('%41'), '%2541', 'no double meaning after decoding');
    assert.equal(decodeURIComponent(encodeGrpcMessage('50% of %zz')), '50% of %zz');
  });

  test('control characters (newline, tab, NUL, DEL) are percent-encoded', () => {
    assert.equal(encodeGrpcMessage('a\nb'), 'a%0Ab');
    assert.equal(encodeGrpcMessage('\r\t\0'), '%0D%09%00');
    assert.equal(encodeGrpcMessage('\x7f'), '%7F');
  });

  test('non-ASCII is UTF-8 percent-encoded and round-trips through decodeURIComponent', () => {
    for (const s of ['héllo wörld', 'модель не найдена', '模型未找到', 'emoji 🚀 ok', 'mixed % é\n🚀 100%']) {
      const encoded = encodeGrpcMessage(s);
      assert.match(encoded, /^[\x20-\x7e]*$/, `only printable ASCII on the wire: ${encoded}`);
      assert.equal(decodeURIComponent(encoded), s);
    }
    assert.equal(encodeGrpcMessage('é'), '%C3%A9');
  });

  test('a lone surrogate (e.g. a message cut inside a surrogate pair) does not throw', () => {
    // encodeURIComponent throws URIError on lone surrogates; a status message must still be sent.
    const cut = 'emoji 🚀'.slice(0, 7); // ends with a lone high surrogate
    assert.doesNotThrow(() => encodeGrpcMessage(cut));
    assert.doesNotThrow(() => encodeGrpcMessage('\udc00 low first'));
  });
});
