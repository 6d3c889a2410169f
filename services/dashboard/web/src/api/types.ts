// Response and request shapes of mes-api (`/api/v1`, see its /api/v1/openapi.json) and
// infra-api (`/api/infra`, docs/infra-api.md). Only the fields the UI uses are required.

export type Role = "ADMIN" | "SUPERVISOR" | "OPERATOR";

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
  total_pages: number;
}

export interface UserSummary {
  id: number;
  username: string;
  full_name: string | null;
  role: Role;
}

export interface LoginResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  user: UserSummary;
}

export interface Me {
  kind: "user" | "station";
  id: number;
  name: string;
  role: Role;
}

export interface Totals {
  total_lots: number;
  active_lots: number;
  completed_lots: number;
  total_serials: number;
  completed_serials: number;
  defective_serials: number;
  completion_rate: number;
  defect_rate: number;
}

export interface ProcessSummary {
  process_code: string;
  process_name: string;
  sequence: number;
  total: number;
  completed: number;
  failed: number;
  in_progress: number;
  avg_cycle_time: number | null;
  standard_cycle_time: number;
}

export interface LineSummary extends Totals {
  line_code: string;
  display_name: string;
  processes: ProcessSummary[];
}

export interface Summary extends Totals {
  date: string;
  lines: LineSummary[];
}

export interface LineKpis {
  line_code: string;
  production_date: string;
  wip: number;
  completed_today: number;
  failed_today: number;
  yield_percent: number | null;
  throughput_per_hour: number;
}

export interface ProcessDefinition {
  code: string;
  name: string;
  sequence: number;
  standard_cycle_time_seconds: number;
}

export interface StationDefinition {
  name: string;
  process_code: string;
  equipment_ids: string[];
}

export interface LineView {
  line_code: string;
  display_name: string;
  active: boolean;
  processes: ProcessDefinition[];
  stations: StationDefinition[];
  product_models: string[];
  updated_at: string;
}

export interface ProductModel {
  id: number;
  model_code: string;
  model_name: string;
  is_active: boolean;
}

export interface DefectCode {
  id: number;
  defect_code: string;
  defect_name: string;
  process_code: string | null;
  severity: string;
  description: string | null;
  is_active: boolean;
}

export type LotStatus = "CREATED" | "IN_PROGRESS" | "COMPLETED" | "CANCELLED";
export type Priority = "URGENT" | "HIGH" | "NORMAL" | "LOW";

export interface Lot {
  id: number;
  lot_number: string;
  plant_code: string;
  line_code: string;
  product_model_code: string;
  production_date: string;
  shift: string;
  target_quantity: number;
  serial_count: number;
  actual_quantity: number;
  defect_quantity: number;
  status: LotStatus;
  priority: Priority;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  created_by: string;
  notes: string | null;
  completion_rate: number;
  defect_rate: number;
}

export type SerialStatus = "CREATED" | "IN_PROGRESS" | "COMPLETED" | "DEFECTIVE" | "SCRAPPED";

export interface LotSerial {
  serial_number: string;
  status: SerialStatus;
  current_process: string | null;
  /** An open (started, not completed) record at `current_process`. */
  open: boolean;
}

export interface LotDetail extends Lot {
  product_model_name: string;
  serial_counts: {
    created: number;
    in_progress: number;
    completed: number;
    defective: number;
    scrapped: number;
  };
  serials: LotSerial[];
}

export interface CreateLot {
  line_code: string;
  product_model_code: string;
  target_quantity: number;
  priority?: Priority;
  notes?: string;
}

export interface CreatedSerials {
  lot_number: string;
  generated_count: number;
  serials: string[];
}

export interface ProcessRecord {
  process_data_id: number;
  process_code: string;
  process_name: string;
  sequence: number;
  work_order: number;
  status: "IN_PROGRESS" | "COMPLETED" | "FAILED";
  is_pass: boolean | null;
  started_at: string;
  completed_at: string | null;
  cycle_time: number | null;
  standard_cycle_time: number;
  operator_id: string;
  equipment_id: string | null;
  workstation: string | null;
  process_specific_data: Record<string, unknown> | null;
  inspection_result: Record<string, unknown> | null;
  defect_code: string | null;
  defect_description: string | null;
}

/** An item of `GET /process/records`: a record with the serial and LOT it belongs to. */
export interface ProcessRecordItem extends ProcessRecord {
  serial_number: string;
  lot_number: string;
}

export interface ReworkView {
  id: number;
  original_process: string;
  defect_code: string;
  rework_reason: string | null;
  rework_operator: string;
  rework_started_at: string;
  rework_completed_at: string | null;
  is_completed: boolean;
  final_result: string | null;
  notes: string | null;
}

export interface SerialDetail {
  serial_number: string;
  lot_number: string;
  line_code: string;
  sequence_in_lot: number;
  status: SerialStatus;
  current_process: string | null;
  next_process: string | null;
  work_order: number;
  is_defective: boolean;
  defect_code: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  process_history: ProcessRecord[];
  reworks: ReworkView[];
}

export interface StartRequest {
  serial_number: string;
  process_code: string;
  operator_id: string;
  equipment_id?: string;
  workstation?: string;
}

export interface StartResponse {
  process_data_id: number;
  serial_number: string;
  lot_number: string;
  process_code: string;
  process_name: string;
  work_order: number;
  started_at: string;
}

export interface ReworkRecord extends ReworkView {
  serial_number: string;
  lot_number: string;
  created_by: string;
}

export interface UserView {
  id: number;
  username: string;
  full_name: string | null;
  role: Role;
  is_active: boolean;
  last_login_at: string | null;
  created_at: string;
}

export interface ApiTokenView {
  id: number;
  name: string;
  token_prefix: string;
  role: string;
  workstation: string | null;
  process_code: string | null;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface CreatedApiToken extends ApiTokenView {
  token: string;
}

/** A message of `/ws/realtime`. */
/** A LOT created, or serials generated for one (no process or serial of its own). */
export interface LotEvent {
  type: "lot";
  event: "lot_created" | "serials_created";
  lot_number: string;
  line_code?: string;
  count?: number;
  at: string;
}

/** What the production feed shows: process events and reworks. */
export type FeedEvent = Exclude<RealtimeEvent, LotEvent>;

export type RealtimeEvent =
  | LotEvent
  | {
      type: "process_event";
      event: "started" | "completed" | "failed";
      serial_number: string;
      lot_number: string;
      line_code: string;
      process_code: string;
      process_data_id: number;
      at: string;
      work_order?: number;
      is_pass?: boolean;
      cycle_time?: number;
      serial_status?: string;
      defect_code?: string | null;
    }
  | {
      type: "rework";
      event: "rework_opened" | "rework_completed";
      rework_id: number;
      serial_number: string;
      lot_number: string;
      process_code: string;
      result: string | null;
      at: string;
    };

// ---- infra-api ----

export interface PodItem {
  name: string;
  component: string | null;
  phase: string;
  ready: string;
  ready_containers: number;
  total_containers: number;
  restarts: number;
  last_restart_at: string | null;
  seconds_since_last_restart: number | null;
  created_at: string | null;
  age_seconds: number | null;
  node: string | null;
  ip: string | null;
  last_termination_reason: string | null;
  terminating: boolean;
}

export interface PodList {
  namespace: string;
  total: number;
  items: PodItem[];
}

export interface ComponentStatus {
  component: string;
  workloads: string[];
  desired_replicas: number;
  ready_replicas: number;
  pods_by_phase: Record<string, number>;
  restarts_total: number;
  restarts_last_hour: number;
  healthy: boolean;
}

export interface InfraStatus {
  namespace: string;
  components: ComponentStatus[];
  /** The plant database as its workload shows it. */
  database?: {
    state: "ready" | "degraded" | "down" | "unknown";
    source: string | null;
    ready_replicas: number;
    desired_replicas: number;
  };
  /** Hubble Relay as infra-api's last probe saw it. */
  hubble?: {
    configured: boolean;
    address: string | null;
    reachable: boolean;
    checked_at: string | null;
    last_error: string | null;
  };
}

export interface InfraEvent {
  name: string;
  type: string;
  reason: string | null;
  message: string | null;
  object: string;
  count: number | null;
  first_seen: string | null;
  last_seen: string | null;
  source: string | null;
}

export interface InfraEvents {
  total: number;
  items: InfraEvent[];
}

export interface RestartResult {
  deployment: string;
  namespace: string;
  restarted_at: string;
  requested_by: string;
}

export interface FlowEndpoint {
  namespace: string | null;
  pod: string | null;
  identity: number;
  labels: string[];
  workload: string | null;
  component: string | null;
}

export interface FlowRow {
  time: string | null;
  verdict: string;
  drop_reason: string | null;
  direction: string;
  is_reply: boolean | null;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  l4: {
    protocol: string;
    source_port: number | null;
    destination_port: number | null;
    icmp_type: number | null;
    icmp_code: number | null;
  } | null;
  l7: { protocol: string; type: string; summary: string } | null;
  node: string | null;
}

export interface FlowList {
  namespace: string;
  total: number;
  lost_events: number;
  items: FlowRow[];
}

export interface MapNode {
  id: string;
  kind: string;
  namespace: string | null;
}

export interface MapEdge {
  source: string;
  destination: string;
  flows: number;
  dropped: number;
  ports: string[];
  last_seen: string | null;
}

export interface ServiceMap {
  namespace: string;
  since: string;
  flows_read: number;
  truncated: boolean;
  lost_events: number;
  nodes: MapNode[];
  edges: MapEdge[];
}
