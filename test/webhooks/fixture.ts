import { createSecretBox } from '../../src/crypto/secrets.ts';
import {
  createWebhookService,
  type WebhookService,
  type WebhookServiceDeps,
} from '../../src/webhooks/index.ts';
import { silentLog, type Harness } from '../sync/fixture.ts';

export const PUBLIC_URL = 'https://airmirror.example';

/**
 * The webhook service as the tests run it against the sync harness: the harness's client (its
 * emulator, budget and virtual clock) for every source, a public URL so hooks can be registered,
 * the clock's time; `deps` adds or replaces the rest (the syncer and hash cache for drains, an
 * owner, a wrapped client).
 */
export function webhookService(h: Harness, deps: Partial<WebhookServiceDeps> = {}): WebhookService {
  return createWebhookService({
    db: h.db,
    secrets: createSecretBox('webhook-tests-secret-key-0123456789'),
    clientFor: () => h.client,
    publicUrl: PUBLIC_URL,
    log: silentLog,
    now: () => new Date(h.clock.now()),
    ...deps,
  });
}
