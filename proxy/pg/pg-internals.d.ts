/**
 * node-postgres' own SCRAM-SHA-256 and md5 password code (pg/lib/crypto), which the endpoint uses
 * to answer Postgres' authentication with the client's password. Untyped CommonJS modules.
 */
declare module 'pg/lib/crypto/sasl.js' {
  interface SaslSession {
    mechanism: string;
    message: string;
    response: string;
    serverSignature?: string;
  }
  const sasl: {
    startSession(mechanisms: string[], stream?: unknown): SaslSession;
    continueSession(
      session: SaslSession,
      password: string,
      serverData: string,
      stream?: unknown,
    ): Promise<void>;
    finalizeSession(session: SaslSession, serverData: string): void;
  };
  export default sasl;
}

declare module 'pg/lib/crypto/utils.js' {
  const utils: {
    postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string>;
  };
  export default utils;
}
