import { describe, expect, it } from "vitest";
import { progressCells } from "./progress";

const line = ["SPRING", "LMA", "LASER", "EOL"];

describe("progressCells", () => {
  it("shows a new serial as all pending and a completed one as all done", () => {
    expect(progressCells(line, { status: "CREATED", current_process: null, open: false })).toEqual([
      "pending",
      "pending",
      "pending",
      "pending",
    ]);
    expect(progressCells(line, { status: "COMPLETED", current_process: "EOL", open: false })).toEqual([
      "done",
      "done",
      "done",
      "done",
    ]);
  });

  it("marks the open process active and the earlier ones done", () => {
    expect(progressCells(line, { status: "IN_PROGRESS", current_process: "LASER", open: true })).toEqual([
      "done",
      "done",
      "active",
      "pending",
    ]);
  });

  it("marks a passed process done while the serial waits for the next START", () => {
    expect(progressCells(line, { status: "IN_PROGRESS", current_process: "LMA", open: false })).toEqual([
      "done",
      "done",
      "pending",
      "pending",
    ]);
  });

  it("marks where a serial failed or was scrapped", () => {
    expect(progressCells(line, { status: "DEFECTIVE", current_process: "LMA", open: false })[1]).toBe("failed");
    expect(progressCells(line, { status: "SCRAPPED", current_process: "EOL", open: false })[3]).toBe("scrapped");
  });

  it("treats an unknown process as not started on this line", () => {
    expect(progressCells(line, { status: "IN_PROGRESS", current_process: "PACK", open: true })).toEqual([
      "pending",
      "pending",
      "pending",
      "pending",
    ]);
  });
});
