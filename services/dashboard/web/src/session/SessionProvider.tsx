// Who is logged in. The token lives in memory and in sessionStorage (so a reload keeps the
// session of this tab; closing the tab ends it) — never in a URL, a cookie or a log. The session
// ends when the token expires or any API call answers that it is no longer valid; the login page
// then says why.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { type ApiError, bindSession } from "../api/client";
import type { Role } from "../api/types";
import { msUntilExpiry, readClaims } from "./token";

export interface SessionUser {
  name: string;
  role: Role;
  kind: "user" | "station";
}

export type EndReason = "expired" | "revoked" | "logout";

interface SessionState {
  token: string;
  user: SessionUser;
  /** Epoch ms; null for station tokens (they do not expire on their own). */
  expiresAt: number | null;
}

interface SessionApi {
  session: SessionState | null;
  endReason: EndReason | null;
  start: (token: string, user: SessionUser) => void;
  end: (reason: EndReason) => void;
}

const STORAGE_KEY = "mes.session";
const SessionContext = createContext<SessionApi | null>(null);

/** The session of this tab, if it is still valid; `expired` when it ran out while away. */
function restore(): { session: SessionState | null; expired: boolean } {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return { session: null, expired: false };
    const stored = JSON.parse(raw) as SessionState;
    if (stored.expiresAt !== null && stored.expiresAt <= Date.now()) {
      sessionStorage.removeItem(STORAGE_KEY);
      return { session: null, expired: true };
    }
    return { session: stored, expired: false };
  } catch {
    return { session: null, expired: false };
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [initial] = useState(restore);
  const [session, setSession] = useState<SessionState | null>(initial.session);
  const [endReason, setEndReason] = useState<EndReason | null>(initial.expired ? "expired" : null);

  const end = useCallback((reason: EndReason) => {
    sessionStorage.removeItem(STORAGE_KEY);
    setSession(null);
    setEndReason(reason);
  }, []);

  const start = useCallback((token: string, user: SessionUser) => {
    const claims = readClaims(token);
    const next: SessionState = { token, user, expiresAt: claims ? claims.exp * 1000 : null };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    setEndReason(null);
    setSession(next);
  }, []);

  // Every API call reads the token from here and reports a rejected session back. Bound during
  // render (not in an effect): children's effects, which start the first requests, run first.
  const tokenRef = useRef<string | null>(null);
  tokenRef.current = session?.token ?? null;
  useState(() =>
    bindSession({
      token: () => tokenRef.current,
      onSessionEnded: (error: ApiError) => end(error.code === "TOKEN_EXPIRED" ? "expired" : "revoked"),
    }),
  );

  // Log out the moment the token expires, not at the next failed request.
  useEffect(() => {
    if (!session || session.expiresAt === null) return undefined;
    const claims = readClaims(session.token);
    const wait = claims ? msUntilExpiry(claims, Date.now()) : 0;
    const timer = window.setTimeout(() => end("expired"), Math.max(0, Math.min(wait, 2_147_000_000)));
    return () => window.clearTimeout(timer);
  }, [session, end]);

  const value = useMemo(() => ({ session, endReason, start, end }), [session, endReason, start, end]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionApi {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}

/** The logged-in user; only for components rendered behind the login guard. */
export function useUser(): SessionUser {
  const { session } = useSession();
  if (!session) throw new Error("useUser without a session");
  return session.user;
}
