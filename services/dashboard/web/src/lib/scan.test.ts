import { describe, expect, it } from "vitest";
import { SERIAL_FORMAT, classifyScan } from "./scan";

describe("classifyScan", () => {
  it("recognises station tokens", () => {
    const token = "mest_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_ab";
    expect(classifyScan(token)).toEqual({ kind: "station-token", token });
  });

  it("recognises serials, upper-casing and trimming what the scanner sent", () => {
    expect(classifyScan(" fn-kr-251109d-001-0001\r")).toEqual({ kind: "serial", serial: "FN-KR-251109D-001-0001" });
    // Malformed serials still go to the server, which names the problem.
    expect(classifyScan("FN-KR-2511-1")).toEqual({ kind: "serial", serial: "FN-KR-2511-1" });
  });

  it("treats everything else printable as an operator badge", () => {
    expect(classifyScan("W002")).toEqual({ kind: "badge", operatorId: "W002" });
    expect(classifyScan("OP:kim.lee")).toEqual({ kind: "badge", operatorId: "kim.lee" });
    expect(classifyScan("BADGE:W-17")).toEqual({ kind: "badge", operatorId: "W-17" });
  });

  it("rejects empty and unprintable scans", () => {
    expect(classifyScan("   ").kind).toBe("invalid");
    expect(classifyScan("W 002").kind).toBe("invalid");
    expect(classifyScan("x".repeat(51)).kind).toBe("invalid");
  });

  it("knows the strict serial format", () => {
    expect(SERIAL_FORMAT.test("FN-KR-251109D-001-0001")).toBe(true);
    expect(SERIAL_FORMAT.test("FN-KR-251109X-001-0001")).toBe(false);
  });
});
