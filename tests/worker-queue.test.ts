import { describe, expect, it } from 'vitest';
import { answerFor, WorkQueue, webAssemblyTrap } from '../app/worker/queue';
import { PhotoError } from '../src/photo/types';

/** The engine worker's queue and its answers (app/worker/queue.ts), in Node. */
describe('answers', () => {
  it('a WebAssembly trap, an abort and memory refused say the engine stopped; the page starts a fresh one', () => {
    const trap = webAssemblyTrap();
    expect(trap).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(answerFor(trap).error).toMatchObject({ kind: 'engine', code: 'crashed', message: 'RuntimeError: unreachable' });
    expect(answerFor(new Error('Aborted(OOM). Build with -sASSERTIONS for more info.')).error.code).toBe('crashed');
    expect(answerFor(new RangeError('Array buffer allocation failed')).error.code).toBe('crashed');
  });

  it('a bad photo is the photo, even when it speaks of memory; anything else is an engine error as it was', () => {
    const photo = new PhotoError('too-large', 'This photo needs more memory than this device can give (out of memory at 120 MP).');
    expect(answerFor(photo).error.kind).toBe('photo');
    expect(answerFor(new Error('no model is loaded')).error).toMatchObject({ kind: 'engine', code: 'engine' });
  });
});

describe('the queue', () => {
  it('runs work one at a time in order; work of an older ticket is answered "superseded" at its next stage', async () => {
    const queue = new WorkQueue();
    const order: string[] = [];
    const first = queue.serial(1, async () => {
      order.push('first');
      queue.supersede(2); // a newer photo arrives meanwhile
      queue.check(1);
      order.push('never');
    });
    const second = queue.serial(2, async () => { order.push('second'); return 42; });
    expect(await first).toMatchObject({ error: { kind: 'superseded' } });
    expect(await second).toBe(42);
    expect(order).toEqual(['first', 'second']);
    expect(await queue.serial(1, async () => 'stale')).toMatchObject({ error: { kind: 'superseded' } });
  });
});
