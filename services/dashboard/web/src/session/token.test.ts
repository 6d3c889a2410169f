import { describe, expect, it } from "vitest";
import { msUntilExpiry, readClaims } from "./token";

function jwt(payload: object): string {
  const enc = (o: object) =>
    btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o)))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${enc({ alg: "HS256", typ: "JWT" })}.${enc(payload)}.signature`;
}

describe("readClaims", () => {
  it("reads sub, role and exp", () => {
    const claims = readClaims(jwt({ sub: "kim", role: "SUPERVISOR", exp: 2000, user_id: 3 }));
    expect(claims).toEqual({ sub: "kim", role: "SUPERVISOR", exp: 2000 });
  });

  it("decodes non-ASCII user names", () => {
    expect(readClaims(jwt({ sub: "김철수", role: "OPERATOR", exp: 1 }))?.sub).toBe("김철수");
  });

  it("rejects tokens without the claims or with an unknown role", () => {
    expect(readClaims("mest_abcdef")).toBeNull();
    expect(readClaims(jwt({ sub: "x", role: "ROOT", exp: 1 }))).toBeNull();
    expect(readClaims(jwt({ sub: "x", role: "ADMIN" }))).toBeNull();
    expect(readClaims("a.!!!.c")).toBeNull();
  });

  it("counts down to expiry", () => {
    const claims = { sub: "x", role: "ADMIN" as const, exp: 100 };
    expect(msUntilExpiry(claims, 99_000)).toBe(1000);
    expect(msUntilExpiry(claims, 101_000)).toBeLessThan(0);
  });
});
