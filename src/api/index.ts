/** The management API: `createApi(deps)` is mounted by the server at `/api`. */
export { createApi, parse } from './app.ts';
export type { ApiDeps, TableRunner, AirtableReaderFactory, BaseSchemaReader } from './deps.ts';
export { tableStatuses, formatStatusTable, type TableStatus } from './status.ts';
export { openApiDocument } from './openapi.ts';
