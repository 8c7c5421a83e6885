/**
 * Why a run was stopped when it was not cancelled on purpose: the process is stopping, or it lost
 * its base to another process (docs/ownership.md). Such a run is recorded as interrupted (the
 * table Failed, `latest_error` saying why) and its schedule is left as it was, so whoever owns the
 * base next runs it again at once; a cancelled run waits for its next period instead.
 */
export class Interruption extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Interruption';
  }
}

/** Whether an abort reason is an interruption (not a cancel). */
export function isInterruption(reason: unknown): reason is Interruption {
  return reason instanceof Interruption;
}
