// The `/ws/realtime` client: authenticates with its first message (never `?token=` in the URL),
// reconnects with back-off, and tells listeners when it has been away (events sent meanwhile are
// lost, so views refetch).
import { reconnectDelay } from "../lib/backoff";
import { SESSION_ENDED_CODES } from "./client";
import type { RealtimeEvent } from "./types";

export type RealtimeStatus = "connecting" | "live" | "offline";

export interface RealtimeHandlers {
  onEvent: (event: RealtimeEvent) => void;
  onStatus: (status: RealtimeStatus) => void;
  /** After a reconnect: whatever happened while away was missed. */
  onResync: () => void;
  /** The server refused the token. */
  onRejected: (code: string) => void;
}

export function realtimeUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/realtime`;
}

export class RealtimeClient {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private timer: number | null = null;
  private stopped = false;
  private everLive = false;

  constructor(
    private readonly url: string,
    private readonly token: () => string | null,
    private readonly handlers: RealtimeHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000, "bye");
    }
  }

  private connect(): void {
    const token = this.token();
    if (this.stopped || !token) return;
    this.handlers.onStatus("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => socket.send(token);
    socket.onmessage = (message: MessageEvent) => this.receive(message.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.handlers.onStatus("offline");
      this.retry();
    };
    socket.onerror = () => socket.close();
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") return;
    let message: { type?: string; code?: string };
    try {
      message = JSON.parse(data) as { type?: string; code?: string };
    } catch {
      return;
    }
    if (message.type === "hello") {
      this.attempt = 0;
      this.handlers.onStatus("live");
      if (this.everLive) this.handlers.onResync();
      this.everLive = true;
    } else if (message.type === "error") {
      const code = message.code ?? "UNKNOWN";
      if (SESSION_ENDED_CODES.has(code)) {
        this.stopped = true;
        this.handlers.onRejected(code);
      }
    } else if (message.type === "process_event" || message.type === "rework" || message.type === "lot") {
      this.handlers.onEvent(message as RealtimeEvent);
    }
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = reconnectDelay(this.attempt);
    this.attempt += 1;
    this.timer = window.setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }
}
