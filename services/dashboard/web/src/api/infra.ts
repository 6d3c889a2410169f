// infra-api (`/api/infra`, docs/infra-api.md) endpoints, including the two SSE streams (log
// follow, live flows), read with fetch() so the token stays in the Authorization header.
import { ApiError, authHeaders, buildUrl, get, post, readEnvelope, reportSessionEnded, sessionToken } from "./client";
import { SseParser } from "../lib/sse";
import type { FlowList, InfraEvents, InfraStatus, PodList, RestartResult, ServiceMap } from "./types";

const INFRA = "/api/infra";
const seg = encodeURIComponent;

export const status = () => get<InfraStatus>(`${INFRA}/status`);
export const pods = (filter: { component?: string | undefined; phase?: string | undefined }) =>
  get<PodList>(`${INFRA}/pods`, { query: filter });
export const events = (limit = 50) => get<InfraEvents>(`${INFRA}/events`, { query: { limit } });
export const logs = (pod: string, tail: number) =>
  get<{ pod: string; container: string; lines: string[] }>(`${INFRA}/pods/${seg(pod)}/logs`, {
    query: { tail, format: "json" },
  });
export const restart = (deployment: string) => post<RestartResult>(`${INFRA}/deployments/${seg(deployment)}/restart`);

export interface FlowFilter {
  pod?: string | undefined;
  verdict?: string | undefined;
  since?: string | undefined;
  limit?: number | undefined;
}
export const flows = (filter: FlowFilter) => get<FlowList>(`${INFRA}/network/flows`, { query: { ...filter } });
export const serviceMap = (since = "15m") => get<ServiceMap>(`${INFRA}/network/map`, { query: { since } });

export interface StreamHandlers {
  onEvent: (event: string, data: string) => void;
  onOpen?: () => void;
}

/**
 * Reads an SSE endpoint until it ends or `signal` aborts. Rejects with an ApiError when the
 * server answers with an error envelope instead of a stream (e.g. 503 HUBBLE_UNAVAILABLE).
 */
export async function stream(
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  handlers: StreamHandlers,
  signal: AbortSignal,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(buildUrl(path, query), {
      headers: { Accept: "text/event-stream", ...authHeaders(sessionToken()) },
      signal,
    });
  } catch (cause) {
    if (signal.aborted) return;
    throw new ApiError(0, "NETWORK_ERROR", cause instanceof Error ? cause.message : "network error");
  }
  const type = response.headers.get("content-type") ?? "";
  if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
    try {
      await readEnvelope<unknown>(response);
    } catch (error) {
      reportSessionEnded(error);
      throw error;
    }
    throw new ApiError(response.status, `HTTP_${response.status}`, "not an event stream");
  }
  handlers.onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const event of parser.feed(value)) handlers.onEvent(event.event, event.data);
    }
  } catch (cause) {
    if (signal.aborted) return;
    throw cause;
  }
}
