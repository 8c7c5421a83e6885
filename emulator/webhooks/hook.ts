import type { WebhookInfo, WebhookPayload, WebhookSpecification } from '../types.ts';
import type { HookScope } from './payloads.ts';

export const DAY_MS = 86_400_000;
/** Hooks expire 7 days after creation / refresh / list-payloads; payloads are kept 7 days (docs/airtable-reference.md §4.5, §4.6). */
export const HOOK_TTL_MS = 7 * DAY_MS;
export const PAYLOAD_RETENTION_MS = 7 * DAY_MS;
/** After expiry, metadata and payloads stay readable for another 7 days (docs/airtable-reference.md §4.6). */
export const EXPIRED_VISIBLE_MS = 7 * DAY_MS;

/** What Airtable reports about the last ping (docs/airtable-reference.md §4.3). */
export interface NotificationResult {
  success: boolean;
  completionTimestamp: string;
  durationMs: number;
  retryNumber: number;
  willBeRetried?: boolean;
  error?: { message: string };
}

/** One emulated webhook. `macSecretBase64` never leaves the emulator except in the create answer. */
export interface Hook {
  id: string;
  baseId: string;
  macSecretBase64: string;
  notificationUrl: string | null;
  specification: WebhookSpecification;
  scope: HookScope;
  /** ms on the emulator clock */
  expiresAt: number;
  /** Set for good when the specification became invalid (error payload sent). */
  errored: boolean;
  areNotificationsEnabled: boolean;
  payloads: Array<{ number: number; createdAt: number; payload: WebhookPayload }>;
  nextPayloadNumber: number;
  lastSuccessfulNotificationTime: string | null;
  lastNotificationResult: NotificationResult | null;
}

export function isHookEnabled(hook: Hook, now: number): boolean {
  return !hook.errored && now < hook.expiresAt;
}

export function hookInfo(hook: Hook, now: number): WebhookInfo {
  return {
    id: hook.id,
    areNotificationsEnabled: hook.areNotificationsEnabled,
    cursorForNextPayload: hook.nextPayloadNumber,
    isHookEnabled: isHookEnabled(hook, now),
    lastSuccessfulNotificationTime: hook.lastSuccessfulNotificationTime,
    notificationUrl: hook.notificationUrl,
    expirationTime: new Date(hook.expiresAt).toISOString(),
    lastNotificationResult: hook.lastNotificationResult ? { ...hook.lastNotificationResult } : null,
    specification: structuredClone(hook.specification),
  };
}
