import { describe, expect, it } from "vitest";
import { interpolate, isMessageKey, messages, placeholders } from "./messages";

describe("messages", () => {
  it("has the same keys in Korean and English, none empty", () => {
    const en = Object.keys(messages.en).sort();
    expect(Object.keys(messages.ko).sort()).toEqual(en);
    for (const lang of ["en", "ko"] as const) {
      for (const [key, text] of Object.entries(messages[lang])) expect(text.trim(), `${lang} ${key}`).not.toBe("");
    }
  });

  it("uses the same placeholders in both languages", () => {
    for (const key of Object.keys(messages.en)) {
      if (!isMessageKey(key)) continue;
      expect(placeholders(messages.ko[key]), key).toEqual(placeholders(messages.en[key]));
    }
  });

  it("fills placeholders and keeps unknown ones visible", () => {
    expect(interpolate("LOT {lot} of {n}", { lot: "FN-KR-251109D-001", n: 3 })).toBe("LOT FN-KR-251109D-001 of 3");
    expect(interpolate("missing {x}", {})).toBe("missing {x}");
  });

  it("names the station's START errors in words", () => {
    for (const code of ["SERIAL_NOT_FOUND", "PREVIOUS_PROCESS_INCOMPLETE", "ALREADY_STARTED", "SERIAL_DEFECTIVE"]) {
      expect(isMessageKey(`error.${code}`)).toBe(true);
    }
  });
});
