import { Hono, type Context } from 'hono';
import type { EmulatorControl } from '../control.ts';
import { invalidRequest } from '../errors.ts';
import type { FaultSpec } from './faults.ts';
import { isObject, readJson } from './body.ts';

/**
 * `/__emulator/...`: the control surface over HTTP, for tests and demos that run the emulator
 * out of process. No auth, no rate limit, no faults. Bodies are JSON.
 */
export function controlRoutes(control: EmulatorControl, maxBodyBytes: number): Hono {
  const app = new Hono({ strict: false });
  const body = async (c: Context) => {
    const b = await readJson(c, maxBodyBytes);
    if (!isObject(b)) throw invalidRequest();
    return b as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const ok = { ok: true };

  app.get('/clock', (c) => c.json({ now: control.now(), iso: new Date(control.now()).toISOString() }));
  app.post('/clock/advance', async (c) => {
    control.advanceClock(Number((await body(c)).ms));
    return c.json({ now: control.now() });
  });
  app.post('/clock/set', async (c) => {
    const b = await body(c);
    control.setClock(typeof b.iso === 'string' ? Date.parse(b.iso) : Number(b.ms));
    return c.json({ now: control.now() });
  });
  app.post('/faults', async (c) => {
    control.fail((await body(c)) as FaultSpec);
    return c.json({ pending: control.pendingFaults() });
  });
  app.delete('/faults', (c) => {
    control.clearFaults();
    return c.json(ok);
  });
  app.get('/calls', (c) => {
    const q = (name: string) => c.req.query(name) || undefined;
    const calls = control.calls({ method: q('method'), path: q('path'), baseId: q('base') });
    return c.json({ calls, dropped: control.droppedCalls() });
  });
  app.delete('/calls', (c) => {
    control.clearCalls();
    return c.json(ok);
  });
  app.post('/offsets/expire', (c) => {
    control.expireOffsets();
    return c.json(ok);
  });
  app.post('/rate-limit', async (c) => {
    const b = await body(c);
    control.setRateLimit(b.rps === false || b.rps === 'off' ? false : Number(b.rps), b.penaltyMs);
    return c.json(ok);
  });
  app.post('/monthly-quota', async (c) => {
    const b = await body(c);
    const calls = b.calls === false || b.calls === 'off' ? false : Number(b.calls);
    if (calls !== false && !(Number.isInteger(calls) && calls >= 0)) throw invalidRequest();
    const token = typeof b.token === 'string' ? b.token : undefined;
    control.setMonthlyQuota(calls, { token, used: b.used === undefined ? undefined : Number(b.used) });
    return c.json(ok);
  });
  app.get('/monthly-quota', (c) => c.json(control.monthlyQuota(c.req.query('token') ?? '')));
  app.post('/bases/:baseId/tables', async (c) =>
    c.json(control.createTable(c.req.param('baseId'), (await body(c)) as never)),
  );
  app.patch('/bases/:baseId/tables/:table', async (c) =>
    c.json(control.renameTable(c.req.param('baseId'), c.req.param('table'), (await body(c)).name)),
  );
  app.delete('/bases/:baseId/tables/:table', (c) => {
    control.deleteTable(c.req.param('baseId'), c.req.param('table'));
    return c.json(ok);
  });
  app.post('/bases/:baseId/tables/:table/fields', async (c) =>
    c.json(control.createField(c.req.param('baseId'), c.req.param('table'), (await body(c)) as never)),
  );
  app.patch('/bases/:baseId/tables/:table/fields/:field', async (c) => {
    const b = await body(c);
    const [baseId, table, field] = [c.req.param('baseId'), c.req.param('table'), c.req.param('field')];
    let out =
      b.type !== undefined ? control.changeFieldType(baseId, table, field, b.type, b.options) : undefined;
    if (b.name !== undefined) out = control.renameField(baseId, table, field, b.name);
    return c.json(out ?? {});
  });
  app.delete('/bases/:baseId/tables/:table/fields/:field', (c) => {
    control.deleteField(c.req.param('baseId'), c.req.param('table'), c.req.param('field'));
    return c.json(ok);
  });
  app.post('/bases/:baseId/tables/:table/records', async (c) =>
    c.json({
      records: control.createRecords(c.req.param('baseId'), c.req.param('table'), (await body(c)).records),
    }),
  );
  app.patch('/bases/:baseId/tables/:table/records', async (c) =>
    c.json({
      records: control.updateRecords(c.req.param('baseId'), c.req.param('table'), (await body(c)).records),
    }),
  );
  app.delete('/bases/:baseId/tables/:table/records', async (c) => {
    const ids = new URL(c.req.url).searchParams.getAll('records[]');
    control.deleteRecords(c.req.param('baseId'), c.req.param('table'), ids);
    return c.json({ records: ids.map((id) => ({ id, deleted: true })) });
  });
  return app;
}
