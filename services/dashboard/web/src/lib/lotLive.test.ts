import { describe, expect, it } from "vitest";
import type { RealtimeEvent } from "../api/types";
import { applyEvent, positionOf } from "./lotLive";

const LOT = "FN-KR-251109D-001";
const SN = `${LOT}-0001`;

function processEvent(event: "started" | "completed" | "failed", process: string, serial_status?: string): RealtimeEvent {
  return {
    type: "process_event",
    event,
    serial_number: SN,
    lot_number: LOT,
    line_code: "L1",
    process_code: process,
    process_data_id: 1,
    at: "2026-11-25T00:00:00Z",
    ...(serial_status ? { serial_status } : {}),
  };
}

describe("live LOT positions", () => {
  it("follows START and COMPLETE of a serial", () => {
    let live = applyEvent(new Map(), processEvent("started", "SPRING"), LOT);
    expect(live.get(SN)).toEqual({ status: "IN_PROGRESS", current_process: "SPRING", open: true });
    live = applyEvent(live, processEvent("completed", "SPRING", "IN_PROGRESS"), LOT);
    expect(live.get(SN)).toEqual({ status: "IN_PROGRESS", current_process: "SPRING", open: false });
    live = applyEvent(live, processEvent("completed", "PACK", "COMPLETED"), LOT);
    expect(live.get(SN)?.status).toBe("COMPLETED");
  });

  it("marks a failed serial defective", () => {
    const live = applyEvent(new Map(), processEvent("failed", "EOL"), LOT);
    expect(live.get(SN)).toEqual({ status: "DEFECTIVE", current_process: "EOL", open: false });
  });

  it("ignores other LOTs and forgets a serial when its rework changes it", () => {
    const started = applyEvent(new Map(), processEvent("started", "SPRING"), LOT);
    expect(applyEvent(started, processEvent("started", "LMA"), "FN-KR-251109D-002")).toBe(started);
    const rework: RealtimeEvent = {
      type: "rework",
      event: "rework_completed",
      rework_id: 1,
      serial_number: SN,
      lot_number: LOT,
      process_code: "EOL",
      result: "PASS",
      at: "2026-11-25T00:00:00Z",
    };
    expect(applyEvent(started, rework, LOT).has(SN)).toBe(false);
  });

  it("leaves positions alone when serials are added to the LOT (the detail is refetched)", () => {
    const started = applyEvent(new Map(), processEvent("started", "SPRING"), LOT);
    const added: RealtimeEvent = { type: "lot", event: "serials_created", lot_number: LOT, count: 2, at: "2026-11-25T00:00:00Z" };
    expect(applyEvent(started, added, LOT)).toBe(started);
  });

  it("falls back to the fetched position, open state included", () => {
    const fetched = { serial_number: SN, status: "IN_PROGRESS" as const, current_process: "LMA", open: false };
    expect(positionOf(fetched, new Map())).toEqual({ status: "IN_PROGRESS", current_process: "LMA", open: false });
  });
});
