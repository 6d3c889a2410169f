import { describe, expect, it } from "vitest";
import { MAX_DELAY_MS, reconnectDelay } from "./backoff";

describe("reconnectDelay", () => {
  it("doubles per attempt from half a second", () => {
    expect(reconnectDelay(0, () => 1)).toBe(500);
    expect(reconnectDelay(1, () => 1)).toBe(1000);
    expect(reconnectDelay(3, () => 1)).toBe(4000);
  });

  it("is capped", () => {
    expect(reconnectDelay(30, () => 1)).toBe(MAX_DELAY_MS);
  });

  it("jitters down by at most a quarter", () => {
    expect(reconnectDelay(2, () => 0)).toBe(1500);
    for (let i = 0; i < 50; i += 1) {
      const d = reconnectDelay(2);
      expect(d).toBeGreaterThanOrEqual(1500);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });
});
