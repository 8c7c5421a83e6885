/**
 * A small async readers–writer lock: table runs of one source share it, a schema rebuild of that
 * source takes it alone (it drops and replaces every mirror table of the base, so no table run
 * may be writing meanwhile). Writers queued first are served first; readers arriving while a
 * writer waits queue behind it, so a rebuild is not starved by a stream of table runs.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private queue: { write: boolean; grant: () => void }[] = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.readers--;
      this.pump();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.pump();
    }
  }

  private acquire(write: boolean): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push({ write, grant: resolve });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.writer) {
      const head = this.queue[0];
      if (head.write) {
        if (this.readers > 0) return;
        this.queue.shift();
        this.writer = true;
        head.grant();
        return;
      }
      this.queue.shift();
      this.readers++;
      head.grant();
    }
  }
}
