// One realtime connection per logged-in tab, shared by every page.
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { RealtimeClient, type RealtimeStatus, realtimeUrl } from "../api/realtime";
import type { RealtimeEvent } from "../api/types";
import { useSession } from "./SessionProvider";

type Listener = (event: RealtimeEvent | { type: "resync" }) => void;

interface Realtime {
  status: RealtimeStatus;
  subscribe: (listener: Listener) => () => void;
}

const RealtimeContext = createContext<Realtime | null>(null);

export function RealtimeProvider({ children }: { children: ReactNode }) {
  const { session, end } = useSession();
  const [status, setStatus] = useState<RealtimeStatus>("offline");
  const listeners = useRef(new Set<Listener>());
  const token = session?.token ?? null;

  useEffect(() => {
    if (!token) return undefined;
    const client = new RealtimeClient(realtimeUrl(window.location), () => token, {
      onEvent: (event) => listeners.current.forEach((listener) => listener(event)),
      onStatus: setStatus,
      onResync: () => listeners.current.forEach((listener) => listener({ type: "resync" })),
      onRejected: (code) => end(code === "TOKEN_EXPIRED" ? "expired" : "revoked"),
    });
    client.start();
    return () => {
      client.stop();
      setStatus("offline");
    };
  }, [token, end]);

  const value = useRef<Realtime>({
    status: "offline",
    subscribe: (listener) => {
      listeners.current.add(listener);
      return () => {
        listeners.current.delete(listener);
      };
    },
  });
  return (
    <RealtimeContext.Provider value={{ status, subscribe: value.current.subscribe }}>
      {children}
    </RealtimeContext.Provider>
  );
}

function useRealtimeContext(): Realtime {
  const value = useContext(RealtimeContext);
  if (!value) throw new Error("realtime outside RealtimeProvider");
  return value;
}

export function useRealtimeStatus(): RealtimeStatus {
  return useRealtimeContext().status;
}

/** Calls `listener` for every event (and `{type: "resync"}` after a reconnect). */
export function useRealtime(listener: Listener): void {
  const { subscribe } = useRealtimeContext();
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => subscribe((event) => latest.current(event)), [subscribe]);
}
