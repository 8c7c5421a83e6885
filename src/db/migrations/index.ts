import { m001_bookkeeping } from './001_bookkeeping.ts';
import { m002_mirror } from './002_mirror.ts';
import { m003_config } from './003_config.ts';
import { m004_events } from './004_events.ts';
import { m005_sync } from './005_sync.ts';
import { m006_webhooks } from './006_webhooks.ts';
import { m007_proxy } from './007_proxy.ts';
import { m008_run_progress } from './008_run_progress.ts';
import { m010_ownership } from './010_ownership.ts';
import { m015_write_guard } from './015_write_guard.ts';
import { m020_budget } from './020_budget.ts';
import { m021_budget_stock } from './021_budget_stock.ts';
import { m030_schema_changes } from './030_schema_changes.ts';
import { m031_status_view } from './031_status_view.ts';
import { m032_retention } from './032_retention.ts';
import { m050_source_settings } from './050_source_settings.ts';
import { m051_subscription_changes } from './051_subscription_changes.ts';
import { m052_integer_cursor } from './052_integer_cursor.ts';
import { m060_quota } from './060_quota.ts';
import { m061_source_token_keys } from './061_source_token_keys.ts';
import { m062_budget_margins } from './062_budget_margins.ts';
import type { Migration } from './migration.ts';

export type { Migration } from './migration.ts';

/** Every migration of the airmirror schema, oldest first. Append; never edit a released one. */
export const migrations: readonly Migration[] = [
  m001_bookkeeping,
  m002_mirror,
  m003_config,
  m004_events,
  m005_sync,
  m006_webhooks,
  m007_proxy,
  m008_run_progress,
  m010_ownership,
  m015_write_guard,
  m020_budget,
  m021_budget_stock,
  m030_schema_changes,
  m031_status_view,
  m032_retention,
  m050_source_settings,
  m051_subscription_changes,
  m052_integer_cursor,
  m060_quota,
  m061_source_token_keys,
  m062_budget_margins,
];
