// Live positions of a LOT's serials from realtime events, laid over the last LOT detail fetched,
// so the grid moves with every START and COMPLETE without refetching the LOT.
import type { LotSerial, RealtimeEvent, SerialStatus } from "../api/types";
import type { SerialPosition } from "./progress";

export type LiveSerials = ReadonlyMap<string, SerialPosition>;

const STATUSES: ReadonlySet<string> = new Set(["CREATED", "IN_PROGRESS", "COMPLETED", "DEFECTIVE", "SCRAPPED"]);

export function applyEvent(live: LiveSerials, event: RealtimeEvent, lotNumber: string): LiveSerials {
  if (event.lot_number !== lotNumber || event.type === "lot") return live;
  const next = new Map(live);
  if (event.type === "rework") {
    // The rework's outcome changes status and position: take them from the next fetch.
    next.delete(event.serial_number);
    return next;
  }
  const reported = event.serial_status && STATUSES.has(event.serial_status) ? (event.serial_status as SerialStatus) : null;
  switch (event.event) {
    case "started":
      next.set(event.serial_number, { status: "IN_PROGRESS", current_process: event.process_code, open: true });
      break;
    case "completed":
      next.set(event.serial_number, { status: reported ?? "IN_PROGRESS", current_process: event.process_code, open: false });
      break;
    case "failed":
      next.set(event.serial_number, { status: reported ?? "DEFECTIVE", current_process: event.process_code, open: false });
      break;
  }
  return next;
}

/** Where each serial is: the event-derived position when there is one, else the fetched one. */
export function positionOf(serial: LotSerial, live: LiveSerials): SerialPosition {
  return live.get(serial.serial_number) ?? { status: serial.status, current_process: serial.current_process, open: serial.open };
}
