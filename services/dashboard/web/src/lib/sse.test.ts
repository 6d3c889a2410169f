import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("parses events split across chunks", () => {
    const parser = new SseParser();
    expect(parser.feed("data: first li")).toEqual([]);
    expect(parser.feed("ne\n\ndata: second\n")).toEqual([{ event: "message", data: "first line" }]);
    expect(parser.feed("\n")).toEqual([{ event: "message", data: "second" }]);
  });

  it("joins multi-line data, reads event names, skips comments and handles CRLF", () => {
    const parser = new SseParser();
    const events = parser.feed(": keep-alive\r\n\r\nevent: flow\r\ndata: a\r\ndata: b\r\n\r\n");
    expect(events).toEqual([{ event: "flow", data: "a\nb" }]);
  });

  it("keeps an empty data line", () => {
    expect(new SseParser().feed("data:\n\n")).toEqual([{ event: "message", data: "" }]);
  });
});
