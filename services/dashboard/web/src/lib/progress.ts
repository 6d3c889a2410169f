// The serial progress grid of a LOT: one cell per process of the line, derived from the
// serial's status, the process it is at, and whether that process is open right now.
import type { SerialStatus } from "../api/types";

export type Cell = "done" | "active" | "failed" | "scrapped" | "pending";

export interface SerialPosition {
  status: SerialStatus;
  current_process: string | null;
  /**
   * True when the serial has an open (IN_PROGRESS) record at `current_process` ("at this
   * process"), false when that process has passed and the next one is not started yet.
   */
  open: boolean;
}

export function progressCells(processCodes: readonly string[], serial: SerialPosition): Cell[] {
  const pending = processCodes.map((): Cell => "pending");
  if (serial.status === "COMPLETED") return processCodes.map((): Cell => "done");
  const at = serial.current_process === null ? -1 : processCodes.indexOf(serial.current_process);
  if (serial.status === "CREATED" || at < 0) return pending;
  return processCodes.map((_, index): Cell => {
    if (index < at) return "done";
    if (index > at) return "pending";
    switch (serial.status) {
      case "DEFECTIVE":
        return "failed";
      case "SCRAPPED":
        return "scrapped";
      default:
        return serial.open === false ? "done" : "active";
    }
  });
}
