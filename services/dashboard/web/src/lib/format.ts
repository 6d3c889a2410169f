// Number, time and duration formatting for tables and charts. Pure functions: unit-tested.

export const DASH = "–";

export function formatNumber(value: number | null | undefined, locale: string): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(value);
}

export function formatPercent(value: number | null | undefined, locale: string, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return `${new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value)}%`;
}

/** `45s`, `2m 05s`, `1h 02m` — cycle times and ages of things. */
export function formatSeconds(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value) || value < 0) return DASH;
  const total = Math.round(value);
  if (total < 60) return `${total}s`;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours === 0) return `${minutes}m ${String(seconds).padStart(2, "0")}s`;
  return `${hours}h ${String(minutes).padStart(2, "0")}m`;
}

/** kubectl's AGE column: `12s`, `5m`, `3h`, `4d`. */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return DASH;
  if (seconds < 120) return `${Math.floor(seconds)}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** `2026-11-25 09:12:03` in the browser's time zone (plants read local wall-clock time). */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return DASH;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(d)}`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : formatClock(d);
}

function formatClock(d: Date): string {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export type CycleVerdict = "ok" | "slow" | "none";

/** An average cycle time more than 10 % over the standard is slow. */
export function cycleVerdict(average: number | null, standard: number): CycleVerdict {
  if (average === null || !Number.isFinite(average) || standard <= 0) return "none";
  return average > standard * 1.1 ? "slow" : "ok";
}

/** Today's date in the browser's time zone, `YYYY-MM-DD`. */
export function localDate(now: Date = new Date()): string {
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}
