/**
 * Runs `source` ahead of its consumer by up to `depth` items, so fetching the next pages overlaps
 * with writing the current batch. An error of the source is delivered in order, after the items
 * fetched before it.
 */
export function prefetch<T>(source: AsyncGenerator<T>, depth: number) {
  const buffer: IteratorResult<T>[] = [];
  let failure: { err: unknown } | undefined;
  let wake: (() => void) | undefined;
  let space: (() => void) | undefined;
  let finished = false;
  void (async () => {
    try {
      while (true) {
        while (buffer.length >= depth) await new Promise<void>((r) => (space = r));
        const r = await source.next();
        buffer.push(r);
        wake?.();
        if (r.done) return;
      }
    } catch (err) {
      failure = { err };
      wake?.();
    } finally {
      finished = true;
    }
  })();
  return {
    async next(): Promise<IteratorResult<T>> {
      while (buffer.length === 0) {
        if (failure) throw failure.err;
        if (finished) return { done: true, value: undefined };
        await new Promise<void>((r) => (wake = r));
      }
      const r = buffer.shift()!;
      space?.();
      return r;
    },
  };
}
