// Reconnect delays for the realtime WebSocket: exponential from 0.5 s, capped at 15 s, with
// jitter so that every browser of a plant does not reconnect in the same millisecond.

export const BASE_DELAY_MS = 500;
export const MAX_DELAY_MS = 15_000;

/** `attempt` counts failed tries since the last good connection (0 = first retry). */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempt));
  // 75–100 % of the exponential delay.
  return Math.round(exponential * (0.75 + 0.25 * random()));
}
