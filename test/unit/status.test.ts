import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_ERROR_CHARS, printable, printableName, SluiceError } from '../../src/runtime/status';

describe('error messages', () => {
  it('a SluiceError message is cut to MAX_ERROR_CHARS, whatever it quotes', () => {
    const e = new SluiceError('INVALID_ARGUMENT', `x${'y'.repeat(100_000)}`);
    assert.equal(e.message.length, MAX_ERROR_CHARS + 3);
    assert.ok(e.message.startsWith('xyy') && e.message.endsWith('y...'));
    assert.equal(new SluiceError('INTERNAL', 'short').message, 'short');
  });

  it('printable cuts, replaces non-printables with ?, and marks the cut', () => {
    assert.equal(printable('a\u0000b\u00e9', 10), 'a?b?');
    assert.equal(printable('abcdef', 3), 'abc...');
    assert.equal(printableName('n'.repeat(200)), `${'n'.repeat(128)}...`);
  });
});
