// Refetch queries when realtime events arrive — at most once per `intervalMs`, so a busy line
// (dozens of events a second) costs one request per interval, not one per event.
import { type QueryKey, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import type { RealtimeEvent } from "../api/types";
import { useRealtime } from "../session/RealtimeProvider";

export function useLiveRefresh(
  keys: QueryKey[],
  matches: (event: RealtimeEvent) => boolean = () => true,
  intervalMs = 1000,
): void {
  const client = useQueryClient();
  const timer = useRef<number | null>(null);
  const keysRef = useRef(keys);
  keysRef.current = keys;

  useEffect(
    () => () => {
      if (timer.current !== null) window.clearTimeout(timer.current);
    },
    [],
  );

  useRealtime((event) => {
    if (event.type !== "resync" && !matches(event)) return;
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      for (const key of keysRef.current) void client.invalidateQueries({ queryKey: key });
    }, event.type === "resync" ? 0 : Math.min(intervalMs, 250));
  });
}
