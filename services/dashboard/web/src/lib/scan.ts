// What a barcode scan at the station means. A keyboard-wedge scanner "types" the code and
// presses Enter; the station page decides from the text alone:
// - `mest_…`                → a station token (the station logs in with it);
// - `FN-KR-251109D-001-0001`-like → a serial to START (the server validates it strictly);
// - anything else printable → an operator badge (`OP:` or `BADGE:` prefixes are dropped).

export type Scan =
  | { kind: "station-token"; token: string }
  | { kind: "serial"; serial: string }
  | { kind: "badge"; operatorId: string }
  | { kind: "invalid"; raw: string };

const STATION_TOKEN = /^mest_[A-Za-z0-9_-]{16,}$/;
/** Anything shaped like `{prefix}-{plant}-…`: sent to the server, which says what is wrong. */
const SERIAL_LIKE = /^[A-Z0-9]{1,10}-[A-Z]{2}-/;
const BADGE = /^(?:OP:|BADGE:)?([A-Za-z0-9][A-Za-z0-9_.-]{0,49})$/;

export function classifyScan(raw: string): Scan {
  const text = raw.trim();
  if (STATION_TOKEN.test(text)) return { kind: "station-token", token: text };
  const upper = text.toUpperCase();
  if (SERIAL_LIKE.test(upper)) return { kind: "serial", serial: upper };
  const badge = BADGE.exec(text);
  if (badge?.[1]) return { kind: "badge", operatorId: badge[1] };
  return { kind: "invalid", raw: text };
}

/** Strict serial format of SPEC §3 (`{LOT}-{seq:04}`), for hints before the server answers. */
export const SERIAL_FORMAT = /^[A-Z0-9]{1,10}-[A-Z]{2}-\d{6}[DN]-\d{3}-\d{4}$/;
