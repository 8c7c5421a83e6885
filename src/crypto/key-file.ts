import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MIN_SECRET_LENGTH } from '../config.ts';

export const SECRET_KEY_FILE = 'secret-key';

/**
 * Demo mode's AIRMIRROR_SECRET_KEY (docs/DESIGN.md: environment): read from `<dataDir>/secret-key`, or
 * generated there (32 random bytes, base64url, file mode 0600) on first use, so stored tokens stay
 * readable across restarts of the same data folder. Node only; the Workers build gets its key from
 * the environment.
 */
export function ensureSecretKey(dataDir: string): string {
  const file = join(dataDir, SECRET_KEY_FILE);
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (key.length < MIN_SECRET_LENGTH) {
      throw new Error(`${file} holds no usable secret key (at least ${MIN_SECRET_LENGTH} characters)`);
    }
    return key;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  // 'wx': never overwrite a key another process wrote a moment ago.
  try {
    writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return ensureSecretKey(dataDir);
    throw err;
  }
  return key;
}
