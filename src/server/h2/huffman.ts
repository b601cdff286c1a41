/**
 * HPACK's static Huffman code (RFC 7541 §5.2, Appendix B), decode side.
 *
 * The code is canonical: sorting the 257 symbols by (code length, symbol) and counting up gives
 * every code, so the table is stored as its code lengths alone and the decoder walks the code
 * one bit at a time against the first code and symbol offset of each length.
 */

/** Code length in bits of each symbol 0..255 and of EOS (256), from RFC 7541 Appendix B. */
const CODE_LENGTHS = [13,23,28,28,28,28,28,28,28,24,30,28,28,30,28,28,28,28,28,28,28,28,30,28,28,28,28,28,28,28,28,28,6,10,10,12,13,6,8,11,10,10,8,11,8,6,6,6,5,5,5,6,6,6,6,6,6,6,7,8,15,6,12,10,13,6,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,8,7,8,13,19,13,14,6,15,5,6,5,6,5,6,6,6,5,7,7,6,6,6,5,6,7,6,5,5,6,7,7,7,7,7,15,11,14,13,28,20,22,20,20,22,22,22,23,22,23,23,23,23,23,24,23,24,24,22,23,24,23,23,23,23,21,22,23,22,23,23,24,22,21,20,22,22,23,23,21,23,22,22,24,21,22,23,23,21,21,22,21,23,22,23,23,20,22,22,22,23,22,22,23,26,26,20,19,22,23,22,25,26,26,26,27,27,26,24,25,19,21,26,27,27,26,27,24,21,21,26,26,28,27,27,27,20,24,20,21,22,21,21,23,22,22,25,25,24,24,26,23,26,27,26,26,27,27,27,27,27,28,27,27,27,27,27,26,30];

const EOS = 256;
const MAX_LENGTH = 30;

/** firstCode[len]: the code of the first symbol of that length; offset[len]: its index in SORTED. */
const FIRST_CODE = new Int32Array(MAX_LENGTH + 2);
const COUNT = new Int32Array(MAX_LENGTH + 2);
const OFFSET = new Int32Array(MAX_LENGTH + 2);
const SORTED = new Uint16Array(257);
{
  for (const len of CODE_LENGTHS) COUNT[len] = (COUNT[len] ?? 0) + 1;
  let code = 0;
  let index = 0;
  for (let len = 1; len <= MAX_LENGTH; len++) {
    code = (code + (COUNT[len - 1] ?? 0)) << 1;
    FIRST_CODE[len] = code;
    OFFSET[len] = index;
    index += COUNT[len] ?? 0;
  }
  const order = CODE_LENGTHS.map((len, sym) => [len, sym] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  order.forEach(([, sym], i) => { SORTED[i] = sym; });
}

/** The canonical code of a symbol (for tests and encoders): [code, length]. */
export function huffmanCode(symbol: number): [number, number] {
  const len = CODE_LENGTHS[symbol];
  if (len === undefined) throw new RangeError(`no Huffman symbol ${symbol}`);
  let rank = 0;
  for (let s = 0; s < symbol; s++) if (CODE_LENGTHS[s] === len) rank++;
  return [(FIRST_CODE[len] as number) + rank, len];
}

/**
 * Decodes bytes [start, end) of `buf` as a Huffman-coded string (latin1: one char per octet),
 * or returns why it is malformed: EOS inside the string, or padding that is longer than 7 bits
 * or not the most significant bits of EOS (all ones), as §5.2 requires a decoder to reject.
 */
export function decodeHuffman(buf: Uint8Array, start: number, end: number): { text: string } | { error: string } {
  // Symbols go to a scratch buffer and become one string at the end: appending a char at a time
  // allocated a string per symbol. The shortest code is 5 bits, so at most 8/5 symbols per byte.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, 2 * scratch.length));
  const out = scratch;
  let n = 0;
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i] as number;
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      len++;
      const rank = code - (FIRST_CODE[len] as number);
      if (rank >= 0 && rank < (COUNT[len] as number)) {
        const sym = SORTED[(OFFSET[len] as number) + rank] as number;
        if (sym === EOS) return { error: 'Huffman string contains EOS' };
        out[n++] = sym;
        code = 0;
        len = 0;
      } else if (len >= MAX_LENGTH) {
        return { error: 'invalid Huffman code' };
      }
    }
  }
  if (len > 7) return { error: `Huffman padding of ${len} bits (at most 7)` };
  if (code !== (1 << len) - 1) return { error: 'Huffman padding is not the prefix of EOS' };
  return { text: out.toString('latin1', 0, n) };
}

/** Decoded symbols of the string being decoded; grows to the longest string seen (bounded by the header list bound). */
let scratch = Buffer.allocUnsafe(256);
