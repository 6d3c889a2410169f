import { describe, expect, it } from "vitest";
import { DASH, cycleVerdict, formatAge, formatDateTime, formatNumber, formatPercent, formatSeconds } from "./format";

describe("formatting", () => {
  it("formats numbers and percentages per locale, with a dash for missing values", () => {
    expect(formatNumber(12345.67, "en")).toBe("12,345.7");
    expect(formatNumber(null, "en")).toBe(DASH);
    expect(formatNumber(Number.NaN, "ko")).toBe(DASH);
    expect(formatPercent(95.234, "en")).toBe("95.2%");
    expect(formatPercent(100, "ko", 0)).toBe("100%");
    expect(formatPercent(undefined, "en")).toBe(DASH);
  });

  it("formats cycle times as seconds, minutes and hours", () => {
    expect(formatSeconds(45)).toBe("45s");
    expect(formatSeconds(59.6)).toBe("1m 00s");
    expect(formatSeconds(125)).toBe("2m 05s");
    expect(formatSeconds(3720)).toBe("1h 02m");
    expect(formatSeconds(-1)).toBe(DASH);
    expect(formatSeconds(null)).toBe(DASH);
  });

  it("formats ages like kubectl", () => {
    expect(formatAge(5)).toBe("5s");
    expect(formatAge(119)).toBe("119s");
    expect(formatAge(600)).toBe("10m");
    expect(formatAge(3 * 3600)).toBe("3h");
    expect(formatAge(5 * 86400)).toBe("5d");
    expect(formatAge(null)).toBe(DASH);
  });

  it("formats timestamps as local wall-clock time", () => {
    const iso = new Date(2026, 10, 25, 9, 5, 3).toISOString();
    expect(formatDateTime(iso)).toBe("2026-11-25 09:05:03");
    expect(formatDateTime("not a date")).toBe(DASH);
    expect(formatDateTime(null)).toBe(DASH);
  });

  it("calls a cycle time slow only beyond 110 % of the standard", () => {
    expect(cycleVerdict(110, 100)).toBe("ok");
    expect(cycleVerdict(111, 100)).toBe("slow");
    expect(cycleVerdict(null, 100)).toBe("none");
    expect(cycleVerdict(50, 0)).toBe("none");
  });
});
