import { Hono } from 'hono';
import { EmulatorClock } from '../../clock.ts';
import { AirtableError, airtableErrorBody } from '../../errors.ts';
import { formulaEngine } from '../../formula-engine.ts';
import { createRng } from '../../ids.ts';
import { SchemaOps } from '../../store/schema-ops.ts';
import { EmulatorStore } from '../../store/store.ts';
import { StoredTable } from '../../store/table.ts';
import type { WebhookPayload } from '../../types.ts';
import { EmulatorWebhooks, webhookRoutes, type NotifierOptions } from '../../webhooks/index.ts';

export const BASE = 'appWebhookTest001';
export const T = {
  projects: 'tblProjects000001',
  tasks: 'tblTasks000000001',
  other: 'tblOther000000001',
  gridView: 'viwProjGrid000001',
};
export const F = {
  name: 'fldProjName000001',
  status: 'fldProjStatus0001',
  tags: 'fldProjTags000001',
  tasks: 'fldProjTasks00001',
  taskTitles: 'fldProjTaskTitle1',
  budget: 'fldProjBudget0001',
  title: 'fldTaskTitle00001',
  project: 'fldTaskProject001',
  estimate: 'fldTaskEstimate01',
  otherName: 'fldOtherName00001',
};
export const CHOICES = {
  todo: { id: 'selTodo0000000001', name: 'Todo', color: 'blueLight2' },
  done: { id: 'selDone0000000001', name: 'Done', color: 'greenLight2' },
  red: { id: 'selRed00000000001', name: 'red' },
  blue: { id: 'selBlue0000000001', name: 'blue' },
};
export const USER = { id: 'usrAnn00000000001', email: 'ann@example.com', name: 'Ann' };
export const START = Date.parse('2024-01-01T00:00:00.000Z');

export interface Ping {
  url: string;
  body: string;
  mac: string | null;
}

/**
 * A small base (Projects ↔ Tasks with a lookup, selects, and a third table) in a real
 * EmulatorStore, the webhooks service over it, the webhook routes mounted where the emulator
 * mounts them, and an in-process receiver recording pings through the injected fetch.
 */
export function createWorld(
  opts: { notifier?: Partial<NotifierOptions>; receiverStatus?: () => number } = {},
) {
  const clock = new EmulatorClock(() => START);
  const store = new EmulatorStore(clock, createRng(7), formulaEngine);
  const projects = new StoredTable(T.projects, 'Projects', {
    fields: [
      { id: F.name, name: 'Name', type: 'singleLineText' },
      {
        id: F.status,
        name: 'Status',
        type: 'singleSelect',
        options: { choices: [CHOICES.todo, CHOICES.done] },
      },
      {
        id: F.tags,
        name: 'Tags',
        type: 'multipleSelects',
        options: { choices: [CHOICES.red, CHOICES.blue] },
      },
      {
        id: F.tasks,
        name: 'Tasks',
        type: 'multipleRecordLinks',
        options: {
          linkedTableId: T.tasks,
          inverseLinkFieldId: F.project,
          isReversed: false,
          prefersSingleRecordLink: false,
        },
      },
      {
        id: F.taskTitles,
        name: 'Task Titles',
        type: 'multipleLookupValues',
        options: {
          recordLinkFieldId: F.tasks,
          fieldIdInLinkedTable: F.title,
          isValid: true,
          result: { type: 'singleLineText' },
        },
      },
      { id: F.budget, name: 'Budget', type: 'number', options: { precision: 0 } },
    ],
    views: [{ id: T.gridView, name: 'Grid view', type: 'grid' }],
  });
  const tasks = new StoredTable(T.tasks, 'Tasks', {
    fields: [
      { id: F.title, name: 'Title', type: 'singleLineText' },
      {
        id: F.project,
        name: 'Project',
        type: 'multipleRecordLinks',
        options: {
          linkedTableId: T.projects,
          inverseLinkFieldId: F.tasks,
          isReversed: false,
          prefersSingleRecordLink: true,
        },
      },
      { id: F.estimate, name: 'Estimate', type: 'number', options: { precision: 0 } },
    ],
    views: [{ id: 'viwTaskGrid000001', name: 'Grid view', type: 'grid' }],
  });
  const other = new StoredTable(T.other, 'Other', {
    fields: [{ id: F.otherName, name: 'Name', type: 'singleLineText' }],
    views: [{ id: 'viwOtherGrid00001', name: 'Grid view', type: 'grid' }],
  });
  store.addBase({
    id: BASE,
    name: 'Webhook test',
    permissionLevel: 'create',
    tables: [projects, tasks, other],
    collaborators: [USER],
  });
  const schema = new SchemaOps(store);

  const pings: Ping[] = [];
  const receiver: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    pings.push({ url: String(input), body: String(init?.body), mac: headers.get('x-airtable-content-mac') });
    return new Response(null, { status: opts.receiverStatus?.() ?? 204 });
  };
  const webhooks = new EmulatorWebhooks({
    store,
    clock,
    fetch: receiver,
    rng: createRng(11),
    notifier: opts.notifier,
  });

  const app = new Hono();
  app.onError((err, c) =>
    err instanceof AirtableError
      ? c.json(airtableErrorBody(err), err.status as 400)
      : c.json({ error: { type: 'SERVER_ERROR', message: String(err) } }, 500),
  );
  app.route('/v0/bases/:baseId/webhooks', webhookRoutes({ webhooks }));

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(`/v0/bases/${BASE}/webhooks${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
  };

  const ui = { source: 'client' as const, typecast: true };
  return {
    clock,
    store,
    schema,
    webhooks,
    pings,
    api,
    ui,
    createHook: async (
      specification: unknown,
      notificationUrl: string | null = 'https://receiver.test/ping',
    ) => {
      const r = await api('POST', '', { notificationUrl, specification });
      if (r.status !== 200) throw new Error(`create failed: ${r.status} ${r.text}`);
      return r.json as { id: string; macSecretBase64: string; expirationTime: string };
    },
    payloads: async (hookId: string, query = '') => {
      const r = await api('GET', `/${hookId}/payloads${query}`);
      if (r.status !== 200) throw new Error(`payloads failed: ${r.status} ${r.text}`);
      return r.json as { payloads: WebhookPayload[]; cursor: number; mightHaveMore: boolean };
    },
  };
}

export const allData = { options: { filters: { dataTypes: ['tableData'] } } };
