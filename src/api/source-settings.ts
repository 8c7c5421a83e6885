/**
 * `PATCH /api/sources/{id}` (issue 16): the day-two changes of a source — a new Airtable token,
 * a name, a description, its freshness target `max_lag_seconds` (issue 17) — without touching
 * its mirror. No schema read of ours follows, no rebuild,
 * no mirror row is written: the token is checked against the base (a schema read with it, as
 * PostHog validates credentials on update), sealed with the SecretBox and stored, and every
 * Airtable client made after that uses it (the syncer makes its client per run from the stored
 * token, and a new token makes a new client: sync/env.ts). A listing already in flight finishes
 * with the token it started with.
 *
 * What cannot change here: the base and the Postgres schema (a mirror moves by creating another
 * source), and the token of a source configured by AIRTABLE_BASES, which lives in AIRTABLE_TOKEN.
 */
import type { Hono } from 'hono';
import * as books from '../bookkeeping/index.ts';
import type { SecretBox } from '../crypto/secrets.ts';
import type { Database } from '../db/database.ts';
import { AirmirrorError, badRequest, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseRequest, readJsonBody } from '../validation.ts';
import { readSchema } from './airtable-read.ts';
import type { AirtableReaderFactory } from './deps.ts';
import { serializeSource } from './serialize.ts';
import { FIXED_SOURCE_FIELDS, PatchSourceRequest } from './source-model.ts';

export interface SourceSettingsDeps {
  db: Database;
  secrets: SecretBox;
  airtable?: AirtableReaderFactory;
  now: () => number;
  log?: Logger;
  /** Told after a change (the quota's drain windows follow max_lag_seconds at once). */
  onChanged?: (sourceId: string) => void;
}

export function registerSourceSettings(app: Hono, deps: SourceSettingsDeps): void {
  app.patch('/sources/:id', async (c) => {
    const raw = await readJsonBody(c);
    if (raw && typeof raw === 'object') {
      for (const key of Object.keys(raw)) {
        const why = FIXED_SOURCE_FIELDS[key];
        if (why) throw badRequest(`${key} cannot be changed. ${why}.`, key, 'IMMUTABLE_FIELD');
      }
    }
    const body = parseRequest(PatchSourceRequest, raw, { requireObject: true });
    const source = await books.loadSource(deps.db, c.req.param('id'));
    if (!source) throw notFound(`Source ${c.req.param('id')} not found`);

    let tokenEncrypted: string | undefined;
    if (body.token !== undefined) {
      if (source.tokenEncrypted === null) {
        throw badRequest(
          "This source is configured by AIRTABLE_BASES: its token is AIRTABLE_TOKEN, in the process' environment",
          'token',
          'TOKEN_FROM_ENVIRONMENT',
        );
      }
      if (!deps.airtable) {
        throw new AirmirrorError(
          'AIRTABLE_UNAVAILABLE',
          503,
          'No Airtable client is configured in this process',
        );
      }
      // The new token must read this base before it replaces the one that works.
      await readSchema(
        deps.airtable({ id: source.id, baseId: source.baseId }, body.token),
        source.baseId,
        true,
      );
      tokenEncrypted = await deps.secrets.encrypt(body.token);
    }

    const updated = await books.updateSourceSettings(deps.db, source.id, {
      name: body.name,
      description: body.description,
      tokenEncrypted,
      maxLagSeconds: body.max_lag_seconds,
    });
    if (!updated) throw notFound(`Source ${source.id} not found`);
    deps.onChanged?.(source.id);
    const changed = Object.keys(body).filter((k) => body[k as keyof typeof body] !== undefined);
    deps.log?.info({ sourceId: source.id, changed }, 'source updated');
    return c.json(serializeSource(updated, await books.listTables(deps.db, source.id), deps.now()));
  });
}
