import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromNativeAnswer, MAX_ERROR_CHARS, printable, printableName, SluiceError } from '../../src/runtime/status';

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

  it('an answer the addon returned becomes a SluiceError without a stack trace', () => {
    const limit = Error.stackTraceLimit;
    const e = fromNativeAnswer({ code: 'UNAVAILABLE', message: 'Exceeds maximum queue size' });
    assert.ok(e instanceof SluiceError);
    assert.deepEqual([e.code, e.message, e.grpcCode, e.httpStatus], ['UNAVAILABLE', 'Exceeds maximum queue size', 14, 503]);
    assert.equal(e.stack, 'SluiceError: Exceeds maximum queue size');  // no "    at ..." lines
    assert.equal(Error.stackTraceLimit, limit, 'the stack trace limit is restored');
    assert.equal(fromNativeAnswer({ code: 'NO_SUCH_CODE', message: 'm' }).code, 'INTERNAL');
  });
});
