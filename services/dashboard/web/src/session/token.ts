// Reading (not verifying — the servers do that) the claims of a JWT, to know who is logged in
// and when the session ends.
import type { Role } from "../api/types";

export interface Claims {
  sub: string;
  role: Role;
  /** Seconds since the epoch. */
  exp: number;
}

const ROLES: ReadonlySet<string> = new Set(["ADMIN", "SUPERVISOR", "OPERATOR"]);

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims of a JWT, or null when it is not a JWT with the claims we need. */
export function readClaims(token: string): Claims | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const payload: unknown = JSON.parse(base64UrlDecode(parts[1]));
    if (typeof payload !== "object" || payload === null) return null;
    const { sub, role, exp } = payload as Record<string, unknown>;
    if (typeof sub !== "string" || typeof role !== "string" || !ROLES.has(role) || typeof exp !== "number") {
      return null;
    }
    return { sub, role: role as Role, exp };
  } catch {
    return null;
  }
}

/** Milliseconds until the token expires (negative when already expired). */
export function msUntilExpiry(claims: Claims, nowMs: number): number {
  return claims.exp * 1000 - nowMs;
}
