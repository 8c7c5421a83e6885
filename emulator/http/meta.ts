import { Hono, type Context } from 'hono';
import type { EmulatorStore } from '../store/store.ts';
import type { FieldInput, SchemaOps } from '../store/schema-ops.ts';
import { invalidRequest } from '../errors.ts';
import { isObject, readJson } from './body.ts';
import { tableSchema } from '../store/schema-view.ts';

export interface MetaRoutesDeps {
  store: EmulatorStore;
  schema: SchemaOps;
  maxBodyBytes: number;
}

/** Metadata API (docs/airtable-reference.md §3): list bases, base schema, create/update table and field. */
export function metaRoutes(deps: MetaRoutesDeps): Hono {
  const { store } = deps;
  const app = new Hono({ strict: false });

  app.get('/v0/meta/whoami', (c) => {
    const user = [...store.bases.values()][0]?.collaborators[0];
    return c.json({
      id: user?.id ?? 'usrEmulator000000',
      scopes: [
        'data.records:read',
        'data.records:write',
        'schema.bases:read',
        'schema.bases:write',
        'webhook:manage',
      ],
      ...(user ? { email: user.email } : {}),
    });
  });

  // Up to 1,000 bases a page (docs/airtable-reference.md §3.1); the emulator never has that
  // many, so no offset.
  app.get('/v0/meta/bases', (c) =>
    c.json({
      bases: [...store.bases.values()].map((b) => ({
        id: b.id,
        name: b.name,
        permissionLevel: b.permissionLevel,
      })),
    }),
  );

  app.get('/v0/meta/bases/:baseId/tables', (c) => {
    const base = store.requireBase(c.req.param('baseId'));
    const include = new URL(c.req.url).searchParams.getAll('include[]');
    const visible = include.includes('visibleFieldIds');
    return c.json({ tables: base.tables.map((t) => tableSchema(t, visible)) });
  });

  const body = async (c: Context) => {
    const b = await readJson(c, deps.maxBodyBytes);
    if (!isObject(b)) throw invalidRequest();
    return b;
  };
  const str = (v: unknown, what: string) => {
    if (v !== undefined && typeof v !== 'string') throw invalidRequest(`${what} must be a string`);
    return v as string | undefined;
  };

  app.post('/v0/meta/bases/:baseId/tables', async (c) => {
    const b = await body(c);
    if (!Array.isArray(b.fields)) throw invalidRequest('fields must be an array');
    const input = {
      name: str(b.name, 'name')!,
      description: str(b.description, 'description'),
      fields: b.fields as FieldInput[],
    };
    return c.json(deps.schema.createTable(c.req.param('baseId'), input));
  });

  app.patch('/v0/meta/bases/:baseId/tables/:table', async (c) => {
    const b = await body(c);
    const patch = { name: str(b.name, 'name'), description: str(b.description, 'description') };
    return c.json(deps.schema.updateTable(c.req.param('baseId'), c.req.param('table'), patch));
  });

  app.post('/v0/meta/bases/:baseId/tables/:table/fields', async (c) => {
    const b = await body(c);
    const input = { ...(b as unknown as FieldInput), name: str(b.name, 'name')!, type: str(b.type, 'type')! };
    return c.json(deps.schema.createField(c.req.param('baseId'), c.req.param('table'), input));
  });

  app.patch('/v0/meta/bases/:baseId/tables/:table/fields/:field', async (c) => {
    const b = await body(c);
    const patch = { name: str(b.name, 'name'), description: str(b.description, 'description') };
    return c.json(
      deps.schema.updateField(c.req.param('baseId'), c.req.param('table'), c.req.param('field'), patch),
    );
  });

  return app;
}
