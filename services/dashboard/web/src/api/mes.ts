// mes-api (`/api/v1`) endpoints the dashboard uses.
import { del, get, newIdempotencyKey, patch, post } from "./client";
import type {
  ApiTokenView,
  CreateLot,
  CreatedApiToken,
  CreatedSerials,
  DefectCode,
  LineKpis,
  LineView,
  LoginResponse,
  Lot,
  LotDetail,
  LotStatus,
  Me,
  Page,
  ProcessRecordItem,
  ProductModel,
  ReworkRecord,
  Role,
  SerialDetail,
  StartRequest,
  StartResponse,
  Summary,
  UserView,
} from "./types";

const V1 = "/api/v1";
const seg = encodeURIComponent;

export const login = (username: string, password: string) =>
  post<LoginResponse>(`${V1}/auth/login`, { username, password }, { token: null });
export const me = (token?: string) => get<Me>(`${V1}/auth/me`, token === undefined ? {} : { token });

export const summary = (date?: string) => get<Summary>(`${V1}/dashboard/summary`, { query: { date } });
export const lineKpis = (line: string) => get<LineKpis>(`${V1}/dashboard/lines/${seg(line)}/kpis`);
export const lines = () => get<LineView[]>(`${V1}/lines`);
export const productModels = () => get<ProductModel[]>(`${V1}/product-models`);
export const defectCodes = () => get<DefectCode[]>(`${V1}/defect-codes`);

export interface LotFilter {
  page: number;
  page_size: number;
  status?: LotStatus | undefined;
  line?: string | undefined;
  date_from?: string | undefined;
  date_to?: string | undefined;
}
export const lots = (filter: LotFilter) => get<Page<Lot>>(`${V1}/lots`, { query: { ...filter } });
export const lot = (lotNumber: string) => get<LotDetail>(`${V1}/lots/${seg(lotNumber)}`);
export const createLot = (body: CreateLot) => post<Lot>(`${V1}/lots`, body);
export const createSerials = (lotNumber: string, quantity: number) =>
  post<CreatedSerials>(`${V1}/lots/${seg(lotNumber)}/serials`, { quantity });
export const serial = (serialNumber: string) => get<SerialDetail>(`${V1}/serials/${seg(serialNumber)}`);

/** START with a fresh Idempotency-Key; `token` is the station token when one was scanned. */
export const startProcess = (body: StartRequest, token?: string | null) =>
  post<StartResponse>(`${V1}/process/start`, body, {
    idempotencyKey: newIdempotencyKey(),
    ...(token ? { token } : {}),
  });

export const failedRecords = (page: number, pageSize: number) =>
  get<Page<ProcessRecordItem>>(`${V1}/process/records`, { query: { status: "FAILED", page, page_size: pageSize } });

export const reworks = (status: "open" | "completed", page: number, pageSize: number) =>
  get<Page<ReworkRecord>>(`${V1}/reworks`, { query: { status, page, page_size: pageSize } });
export const openRework = (serial_number: string, rework_reason: string) =>
  post<ReworkRecord>(`${V1}/reworks`, { serial_number, rework_reason }, { idempotencyKey: newIdempotencyKey() });
export const completeRework = (id: number, result: "PASS" | "SCRAP", notes?: string) =>
  post<ReworkRecord>(`${V1}/reworks/${id}/complete`, { result, notes }, { idempotencyKey: newIdempotencyKey() });

export const users = (page: number, pageSize: number) =>
  get<Page<UserView>>(`${V1}/users`, { query: { page, page_size: pageSize } });
export const createUser = (body: { username: string; password: string; full_name?: string; role: Role }) =>
  post<UserView>(`${V1}/users`, body);
export const updateUser = (id: number, body: { is_active?: boolean; role?: Role }) =>
  patch<UserView>(`${V1}/users/${id}`, body);

export const apiTokens = () => get<ApiTokenView[]>(`${V1}/api-tokens`);
export const createApiToken = (body: {
  name: string;
  workstation?: string;
  process_code?: string;
  expires_in_days?: number;
}) => post<CreatedApiToken>(`${V1}/api-tokens`, body);
export const revokeApiToken = (id: number) => del<ApiTokenView>(`${V1}/api-tokens/${id}`);

