/**
 * Bearer authentication of /api (AIRMIRROR_ADMIN_TOKEN). Runtime-neutral: both sides are hashed
 * with SHA-256 and the digests compared in constant time, so neither the length nor a prefix of
 * the configured token leaks through timing.
 */
import { AirmirrorError } from '../errors.ts';

const encoder = new TextEncoder();

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(s)));
}

export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** Throws a 401 unless `authorization` is `Bearer <adminToken>`. */
export async function checkBearer(authorization: string | undefined, adminToken: string): Promise<void> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) {
    throw new AirmirrorError('NOT_AUTHENTICATED', 401, 'Authentication credentials were not provided');
  }
  if (!(await constantTimeEqual(m[1], adminToken))) {
    throw new AirmirrorError('AUTHENTICATION_FAILED', 401, 'Invalid bearer token');
  }
}
