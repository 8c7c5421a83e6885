import { describe, expect, it } from 'vitest';
import { systemSleep } from '../../src/lifecycle/clock.ts';

describe('systemSleep', () => {
  it('resolves after the delay', async () => {
    await expect(systemSleep(1)).resolves.toBeUndefined();
  });

  it('rejects with the reason as soon as the signal aborts (a 30-s penalty must not delay stop())', async () => {
    const ctl = new AbortController();
    const pending = systemSleep(60_000, ctl.signal);
    ctl.abort(new Error('stopping'));
    await expect(pending).rejects.toThrow('stopping');
  });

  it('rejects at once for an already aborted signal, with an AbortError when no reason was given', async () => {
    const ctl = new AbortController();
    ctl.abort();
    await expect(systemSleep(60_000, ctl.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });
});
