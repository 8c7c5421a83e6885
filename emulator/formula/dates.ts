import { FormulaRuntimeError } from './errors.ts';

/**
 * Date handling for the formula language. Everything is UTC: the emulator has no per-user or
 * per-field time zone, so an ISO string without an offset is read as UTC (an emulator choice;
 * docs/airtable-reference.md §0 only says timestamps are ISO-8601 UTC). Format tokens follow the moment.js
 * subset Airtable documents for DATETIME_FORMAT/DATETIME_PARSE; unit names follow moment too.
 */

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const US = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;

/** ISO-8601 (date, date-time, optional offset) or M/D/YYYY → Date. Throws on anything else. */
export function parseDateValue(text: string): Date {
  const s = text.trim();
  const m = ISO.exec(s);
  if (m) {
    const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '0', zone] = m;
    const ms = Number(frac.padEnd(3, '0').slice(0, 3));
    validDay(+y, +mo, +d);
    let t = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec, ms);
    if (zone && zone.toUpperCase() !== 'Z') {
      const sign = zone[0] === '-' ? -1 : 1;
      const digits = zone.slice(1).replace(':', '');
      t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
    }
    return valid(new Date(t));
  }
  const us = US.exec(s);
  if (us) {
    validDay(+us[3], +us[1], +us[2]);
    return new Date(Date.UTC(+us[3], +us[1] - 1, +us[2]));
  }
  throw new FormulaRuntimeError(`Cannot parse date "${text}"`);
}

// Date.UTC rolls 2024-02-31 over into March; a calendar day that does not exist is an error instead.
function validDay(year: number, month: number, day: number): void {
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) {
    throw new FormulaRuntimeError('Invalid date');
  }
}

function valid(d: Date): Date {
  if (Number.isNaN(d.getTime())) throw new FormulaRuntimeError('Invalid date');
  return d;
}

export type Unit =
  'millisecond' | 'second' | 'minute' | 'hour' | 'day' | 'week' | 'month' | 'quarter' | 'year';

const UNIT_ALIASES: Record<string, Unit> = {
  ms: 'millisecond',
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  M: 'month',
  Q: 'quarter',
  y: 'year',
};
const UNITS: Unit[] = ['millisecond', 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'];

/** moment-style unit names: `days`, `day`, `d`; `M` is months and `m` minutes. */
export function parseUnit(text: string): Unit {
  const t = text.trim();
  if (UNIT_ALIASES[t]) return UNIT_ALIASES[t];
  const lower = t.toLowerCase().replace(/s$/, '');
  const unit = UNITS.find((u) => u === lower);
  if (!unit) throw new FormulaRuntimeError(`Unknown unit "${text}"`);
  return unit;
}

const FIXED_MS: Partial<Record<Unit, number>> = {
  millisecond: 1,
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
};

/** Adds whole calendar months, clamping the day (Jan 31 + 1 month = Feb 28/29, as moment does). */
function addMonths(d: Date, months: number): Date {
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const out = new Date(d.getTime());
  out.setUTCFullYear(y, m, Math.min(d.getUTCDate(), lastDay));
  return out;
}

export function addToDate(d: Date, count: number, unit: Unit): Date {
  const fixed = FIXED_MS[unit];
  if (fixed !== undefined) return new Date(d.getTime() + count * fixed);
  const months = Math.trunc(count) * (unit === 'year' ? 12 : unit === 'quarter' ? 3 : 1);
  return addMonths(d, months);
}

/** d1 − d2 in whole units, truncated toward zero (moment's `diff`). */
export function diffDates(d1: Date, d2: Date, unit: Unit): number {
  const fixed = FIXED_MS[unit];
  if (fixed !== undefined) return Math.trunc((d1.getTime() - d2.getTime()) / fixed) + 0;
  let months = (d1.getUTCFullYear() - d2.getUTCFullYear()) * 12 + (d1.getUTCMonth() - d2.getUTCMonth());
  const anchor = addMonths(d2, months);
  if (d1 >= d2 && anchor > d1) months--;
  else if (d1 < d2 && anchor < d1) months++;
  const per = unit === 'year' ? 12 : unit === 'quarter' ? 3 : 1;
  return Math.trunc(months / per) + 0;
}

/** Start of the unit containing d (weeks start on Sunday, moment's default locale). */
export function startOf(d: Date, unit: Unit): Date {
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  const day = d.getUTCDate();
  switch (unit) {
    case 'millisecond':
      return d;
    case 'second':
      return new Date(Math.floor(d.getTime() / 1000) * 1000);
    case 'minute':
      return new Date(Math.floor(d.getTime() / 60_000) * 60_000);
    case 'hour':
      return new Date(Math.floor(d.getTime() / 3_600_000) * 3_600_000);
    case 'day':
      return new Date(Date.UTC(y, mo, day));
    case 'week':
      return new Date(Date.UTC(y, mo, day - d.getUTCDay()));
    case 'month':
      return new Date(Date.UTC(y, mo, 1));
    case 'quarter':
      return new Date(Date.UTC(y, mo - (mo % 3), 1));
    case 'year':
      return new Date(Date.UTC(y, 0, 1));
  }
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const TOKEN = /\[[^\]]*\]|YYYY|YY|Q|MMMM|MMM|MM|M|DD|D|dddd|ddd|HH|H|hh|h|mm|m|ss|s|SSS|A|a|X|x|ZZ|Z/g;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** DATETIME_FORMAT with moment tokens; without a format it is the ISO string. */
export function formatDate(d: Date, format?: string): string {
  if (format === undefined) return d.toISOString();
  const h = d.getUTCHours();
  return format.replace(TOKEN, (tok) => {
    switch (tok) {
      case 'YYYY':
        return String(d.getUTCFullYear());
      case 'YY':
        return pad(d.getUTCFullYear() % 100);
      case 'Q':
        return String(Math.floor(d.getUTCMonth() / 3) + 1);
      case 'MMMM':
        return MONTHS[d.getUTCMonth()];
      case 'MMM':
        return MONTHS[d.getUTCMonth()].slice(0, 3);
      case 'MM':
        return pad(d.getUTCMonth() + 1);
      case 'M':
        return String(d.getUTCMonth() + 1);
      case 'DD':
        return pad(d.getUTCDate());
      case 'D':
        return String(d.getUTCDate());
      case 'dddd':
        return DAYS[d.getUTCDay()];
      case 'ddd':
        return DAYS[d.getUTCDay()].slice(0, 3);
      case 'HH':
        return pad(h);
      case 'H':
        return String(h);
      case 'hh':
        return pad(h % 12 || 12);
      case 'h':
        return String(h % 12 || 12);
      case 'mm':
        return pad(d.getUTCMinutes());
      case 'm':
        return String(d.getUTCMinutes());
      case 'ss':
        return pad(d.getUTCSeconds());
      case 's':
        return String(d.getUTCSeconds());
      case 'SSS':
        return pad(d.getUTCMilliseconds(), 3);
      case 'A':
        return h < 12 ? 'AM' : 'PM';
      case 'a':
        return h < 12 ? 'am' : 'pm';
      case 'X':
        return String(Math.floor(d.getTime() / 1000));
      case 'x':
        return String(d.getTime());
      case 'ZZ':
        return '+0000';
      case 'Z':
        return '+00:00';
      default:
        return tok.slice(1, -1); // [literal]
    }
  });
}

/** DATETIME_PARSE with an explicit format: builds a matcher from the same token set. */
export function parseDateWithFormat(text: string, format: string): Date {
  const parts: Record<string, number> = {};
  const setters: Array<(s: string) => void> = [];
  let pattern = '';
  let last = 0;
  let ampm: string | undefined;
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const m of format.matchAll(TOKEN)) {
    pattern += literal(format.slice(last, m.index));
    last = m.index + m[0].length;
    const tok = m[0];
    const num = (key: string, re: string) => {
      pattern += `(${re})`;
      setters.push((s) => (parts[key] = Number(s)));
    };
    switch (tok) {
      case 'YYYY':
        num('year', '\\d{4}');
        break;
      case 'YY':
        pattern += '(\\d{2})';
        setters.push((s) => (parts.year = 2000 + Number(s)));
        break;
      case 'MMMM':
      case 'MMM':
        pattern += '([A-Za-z]+)';
        setters.push((s) => {
          const i = MONTHS.findIndex((n) => n.toLowerCase().startsWith(s.toLowerCase().slice(0, 3)));
          if (i < 0) throw new FormulaRuntimeError(`Unknown month "${s}"`);
          parts.month = i + 1;
        });
        break;
      case 'MM':
      case 'M':
        num('month', '\\d{1,2}');
        break;
      case 'DD':
      case 'D':
        num('day', '\\d{1,2}');
        break;
      case 'HH':
      case 'H':
      case 'hh':
      case 'h':
        num('hour', '\\d{1,2}');
        break;
      case 'mm':
      case 'm':
        num('minute', '\\d{1,2}');
        break;
      case 'ss':
      case 's':
        num('second', '\\d{1,2}');
        break;
      case 'SSS':
        num('ms', '\\d{1,3}');
        break;
      case 'A':
      case 'a':
        pattern += '([AaPp][Mm])';
        setters.push((s) => (ampm = s.toLowerCase()));
        break;
      case 'X':
        pattern += '(\\d+)';
        setters.push((s) => (parts.epoch = Number(s) * 1000));
        break;
      case 'x':
        pattern += '(\\d+)';
        setters.push((s) => (parts.epoch = Number(s)));
        break;
      case 'Z':
      case 'ZZ':
        pattern += '(Z|[+-]\\d{2}:?\\d{2})';
        setters.push((s) => {
          if (s.toUpperCase() === 'Z') return;
          const digits = s.slice(1).replace(':', '');
          parts.offset =
            (s[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
        });
        break;
      default:
        pattern += literal(tok.slice(1, -1));
    }
  }
  pattern += literal(format.slice(last));
  const match = new RegExp(`^${pattern}$`).exec(text.trim());
  if (!match) throw new FormulaRuntimeError(`"${text}" does not match format "${format}"`);
  setters.forEach((set, i) => set(match[i + 1]));
  if (parts.epoch !== undefined) return new Date(parts.epoch);
  let hour = parts.hour ?? 0;
  if (ampm === 'pm' && hour < 12) hour += 12;
  if (ampm === 'am' && hour === 12) hour = 0;
  validDay(parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1);
  const t = Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    hour,
    parts.minute ?? 0,
    parts.second ?? 0,
    parts.ms ?? 0,
  );
  return valid(new Date(t - (parts.offset ?? 0) * 60_000));
}
