import type { SecretBox } from '../crypto/secrets.ts';
import type { SubscriptionRow } from './types.ts';

/**
 * The secrets an event to this subscription is signed with at `now`: its current secret, then
 * the one its last rotation replaced while that overlap runs (both signatures go out, event.ts
 * signatureHeader). A previous secret that cannot be opened any more is left out rather than
 * holding delivery up; the current one must open (the caller reports it like a receiver failure).
 */
export async function signingSecrets(
  sub: Pick<SubscriptionRow, 'secret_encrypted' | 'previous_secret_encrypted' | 'previous_secret_expires_at'>,
  box: Pick<SecretBox, 'decrypt'>,
  now: Date,
): Promise<string[]> {
  const current = await box.decrypt(sub.secret_encrypted);
  const until = sub.previous_secret_expires_at;
  if (!sub.previous_secret_encrypted || !until || new Date(until).getTime() <= now.getTime())
    return [current];
  const previous = await box.decrypt(sub.previous_secret_encrypted).catch(() => undefined);
  return previous === undefined || previous === current ? [current] : [current, previous];
}
