// The one place that talks HTTP: envelopes in, typed data or an ApiError out. The token goes
// only into the Authorization header — never into a URL, and nothing here logs requests.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Codes that mean "your session is no longer valid": the UI goes back to the login page. */
export const SESSION_ENDED_CODES: ReadonlySet<string> = new Set([
  "AUTH_REQUIRED",
  "INVALID_TOKEN",
  "TOKEN_EXPIRED",
  "USER_INACTIVE",
]);

export function endsSession(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401 && SESSION_ENDED_CODES.has(error.code);
}

type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Overrides the session token (the station page's station token). */
  token?: string | null;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

interface Session {
  token: () => string | null;
  onSessionEnded: (error: ApiError) => void;
}

let session: Session = { token: () => null, onSessionEnded: () => undefined };

/** Called once by the session provider. */
export function bindSession(next: Session): void {
  session = next;
}

export function sessionToken(): string | null {
  return session.token();
}

/** Reports an error that means the session is over (for requests not made by `request`). */
export function reportSessionEnded(error: unknown): void {
  if (endsSession(error)) session.onSessionEnded(error as ApiError);
}

export function buildUrl(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

export function authHeaders(token: string | null): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** Reads an envelope; returns `data` or throws the envelope's error. */
export async function readEnvelope<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (isEnvelope(body)) {
    if (body.success) return body.data as T;
    const error = body.error ?? { code: "UNKNOWN", message: response.statusText };
    throw new ApiError(response.status, error.code, error.message, error.details ?? {});
  }
  if (response.ok) return body as T;
  throw new ApiError(response.status, `HTTP_${response.status}`, response.statusText || "request failed");
}

interface Envelope {
  success: boolean;
  data?: unknown;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

function isEnvelope(body: unknown): body is Envelope {
  return typeof body === "object" && body !== null && "success" in body;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const token = options.token === undefined ? session.token() : options.token;
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders(token) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  let response: Response;
  try {
    response = await fetch(buildUrl(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      credentials: "same-origin",
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError(0, "NETWORK_ERROR", "the server cannot be reached");
  }
  try {
    return await readEnvelope<T>(response);
  } catch (error) {
    // A station token used by the station page is its own business; the session's is ours.
    if (options.token === undefined && endsSession(error)) session.onSessionEnded(error as ApiError);
    throw error;
  }
}

export const get = <T>(path: string, options?: RequestOptions) => request<T>("GET", path, options);
export const post = <T>(path: string, body?: unknown, options?: RequestOptions) =>
  request<T>("POST", path, { ...options, body });
export const patch = <T>(path: string, body?: unknown, options?: RequestOptions) =>
  request<T>("PATCH", path, { ...options, body });
export const del = <T>(path: string, options?: RequestOptions) => request<T>("DELETE", path, options);

export function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
