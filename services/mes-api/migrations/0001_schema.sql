-- The whole MES schema (SPEC §5), created in one go.
--
-- Principles:
--  * invalid states are unrepresentable: CHECKs, foreign keys, unique keys and the partial unique
--    index "one open process record per serial";
--  * audit_log and status_history are written by triggers, so no API path can skip them; the
--    application user comes from the transaction-local settings `mes.user`, `mes.ip`,
--    `mes.request_id` that the repository layer sets at the start of every write transaction;
--  * numbers (LOT, serial) are allocated in the transaction that inserts the row, so a failed insert
--    rolls its number back and concurrent replicas can neither duplicate nor skip one.

-- ---------------------------------------------------------------------------------------------
-- Who is writing: read from transaction-local settings, falling back to the database role for
-- manual SQL and migrations.
CREATE FUNCTION mes_actor() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE(NULLIF(current_setting('mes.user', true), ''), 'db:' || current_user)
$$;

CREATE FUNCTION mes_setting(name text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting(name, true), '')
$$;

-- ---------------------------------------------------------------------------------------------
-- Master data

CREATE TABLE production_lines (
    id           SERIAL PRIMARY KEY,
    line_code    VARCHAR(20)  NOT NULL UNIQUE CHECK (line_code ~ '^[A-Z0-9][A-Z0-9_-]{0,19}$'),
    display_name VARCHAR(100) NOT NULL CHECK (length(btrim(display_name)) > 0),
    stations     JSONB        NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(stations) = 'array'),
    is_active    BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- Processes belong to a line. A process removed from a line definition is deactivated, not
-- deleted, because its records must stay readable; only active processes take part in routing.
CREATE TABLE processes (
    id                  SERIAL PRIMARY KEY,
    line_id             INTEGER      NOT NULL REFERENCES production_lines(id),
    process_code        VARCHAR(20)  NOT NULL CHECK (process_code ~ '^[A-Z][A-Z0-9_]{0,19}$'),
    process_name        VARCHAR(100) NOT NULL CHECK (length(btrim(process_name)) > 0),
    sequence_order      INTEGER      NOT NULL CHECK (sequence_order > 0),
    standard_cycle_time INTEGER      NOT NULL CHECK (standard_cycle_time > 0),
    data_schema         JSONB CHECK (data_schema IS NULL OR jsonb_typeof(data_schema) = 'object'),
    description         TEXT,
    is_active           BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at          TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ  NOT NULL DEFAULT now(),
    UNIQUE (line_id, process_code),
    -- Active processes of a line have distinct sequences; deferred so that a line definition
    -- can reorder its processes in one transaction.
    CONSTRAINT processes_active_sequence EXCLUDE USING btree (line_id WITH =, sequence_order WITH =)
        WHERE (is_active) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE product_models (
    id                SERIAL PRIMARY KEY,
    model_code        VARCHAR(50)  NOT NULL UNIQUE CHECK (model_code ~ '^[A-Z0-9][A-Z0-9_.-]{0,49}$'),
    model_name        VARCHAR(100) NOT NULL CHECK (length(btrim(model_name)) > 0),
    specification     JSONB CHECK (specification IS NULL OR jsonb_typeof(specification) = 'object'),
    target_cycle_time INTEGER CHECK (target_cycle_time IS NULL OR target_cycle_time > 0),
    bom               JSONB,
    is_active         BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- Which product models a line builds (empty = any active model).
CREATE TABLE line_product_models (
    line_id          INTEGER NOT NULL REFERENCES production_lines(id),
    product_model_id INTEGER NOT NULL REFERENCES product_models(id),
    PRIMARY KEY (line_id, product_model_id)
);

-- Defect codes are plant-wide; `process_code` names the process they are typical for.
CREATE TABLE defect_codes (
    id           SERIAL PRIMARY KEY,
    defect_code  VARCHAR(50)  NOT NULL UNIQUE CHECK (defect_code ~ '^[A-Z0-9][A-Z0-9_-]{0,49}$'),
    defect_name  VARCHAR(100) NOT NULL CHECK (length(btrim(defect_name)) > 0),
    process_code VARCHAR(20) CHECK (process_code IS NULL OR process_code ~ '^[A-Z][A-Z0-9_]{0,19}$'),
    severity     VARCHAR(20)  NOT NULL DEFAULT 'MAJOR' CHECK (severity IN ('CRITICAL', 'MAJOR', 'MINOR')),
    description  TEXT,
    is_active    BOOLEAN      NOT NULL DEFAULT TRUE
);
CREATE INDEX defect_codes_process ON defect_codes (process_code);

-- ---------------------------------------------------------------------------------------------
-- Users, permissions, tokens

CREATE TABLE users (
    id              SERIAL PRIMARY KEY,
    username        VARCHAR(50)  NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{1,49}$'),
    hashed_password VARCHAR(255) NOT NULL CHECK (hashed_password LIKE '$argon2id$%'),
    full_name       VARCHAR(100),
    role            VARCHAR(20)  NOT NULL CHECK (role IN ('ADMIN', 'SUPERVISOR', 'OPERATOR')),
    is_active       BOOLEAN      NOT NULL DEFAULT TRUE,
    last_login_at   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- The role matrix of seed 001 §7.2, extended as docs/decisions.md explains (ADMIN may do
-- everything; MASTER covers lines, processes, product models and defect codes; AUDIT is history).
CREATE TABLE permissions (
    id       SERIAL PRIMARY KEY,
    role     VARCHAR(20) NOT NULL CHECK (role IN ('ADMIN', 'SUPERVISOR', 'OPERATOR')),
    resource VARCHAR(50) NOT NULL CHECK (resource IN ('PROCESS', 'LOT', 'SERIAL', 'USER', 'REPORT', 'MASTER', 'AUDIT')),
    action   VARCHAR(20) NOT NULL CHECK (action IN ('CREATE', 'READ', 'UPDATE', 'DELETE')),
    UNIQUE (role, resource, action)
);

INSERT INTO permissions (role, resource, action)
SELECT 'ADMIN', r, a
FROM unnest(ARRAY['PROCESS', 'LOT', 'SERIAL', 'USER', 'REPORT', 'MASTER', 'AUDIT']) AS r,
     unnest(ARRAY['CREATE', 'READ', 'UPDATE', 'DELETE']) AS a;

INSERT INTO permissions (role, resource, action) VALUES
    ('OPERATOR',   'PROCESS', 'CREATE'),
    ('OPERATOR',   'PROCESS', 'READ'),
    ('OPERATOR',   'MASTER',  'READ'),
    ('SUPERVISOR', 'PROCESS', 'CREATE'),
    ('SUPERVISOR', 'PROCESS', 'READ'),
    ('SUPERVISOR', 'PROCESS', 'UPDATE'),
    ('SUPERVISOR', 'LOT',     'CREATE'),
    ('SUPERVISOR', 'LOT',     'READ'),
    ('SUPERVISOR', 'SERIAL',  'CREATE'),
    ('SUPERVISOR', 'SERIAL',  'READ'),
    ('SUPERVISOR', 'REPORT',  'READ'),
    ('SUPERVISOR', 'MASTER',  'READ'),
    ('SUPERVISOR', 'AUDIT',   'READ');

-- Station API tokens: only a SHA-256 of the secret is stored; the secret is shown once.
CREATE TABLE api_tokens (
    id           SERIAL PRIMARY KEY,
    name         VARCHAR(100) NOT NULL CHECK (length(btrim(name)) > 0),
    token_prefix VARCHAR(16)  NOT NULL,
    token_hash   BYTEA        NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    role         VARCHAR(20)  NOT NULL DEFAULT 'OPERATOR' CHECK (role = 'OPERATOR'),
    workstation  VARCHAR(50),
    process_code VARCHAR(20),
    created_by   VARCHAR(50)  NOT NULL,
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);

-- ---------------------------------------------------------------------------------------------
-- Production

-- Number allocation per (plant, production date, shift); the CHECK turns the 1000th LOT of a
-- shift into an error instead of a wrap-around.
CREATE TABLE lot_sequences (
    plant_code      CHAR(2)  NOT NULL CHECK (plant_code ~ '^[A-Z]{2}$'),
    production_date DATE     NOT NULL,
    shift           CHAR(1)  NOT NULL CHECK (shift IN ('D', 'N')),
    last_seq        SMALLINT NOT NULL CHECK (last_seq BETWEEN 1 AND 999),
    PRIMARY KEY (plant_code, production_date, shift)
);

CREATE TABLE lots (
    id               BIGSERIAL PRIMARY KEY,
    lot_number       VARCHAR(30) NOT NULL UNIQUE
                     CHECK (lot_number ~ '^[A-Z]{2,4}-[A-Z]{2}-[0-9]{6}[DN]-[0-9]{3}$'),
    plant_code       CHAR(2)     NOT NULL CHECK (plant_code ~ '^[A-Z]{2}$'),
    line_id          INTEGER     NOT NULL REFERENCES production_lines(id),
    product_model_id INTEGER     NOT NULL REFERENCES product_models(id),
    production_date  DATE        NOT NULL,
    shift            CHAR(1)     NOT NULL CHECK (shift IN ('D', 'N')),
    lot_seq          SMALLINT    NOT NULL CHECK (lot_seq BETWEEN 1 AND 999),
    target_quantity  INTEGER     NOT NULL CHECK (target_quantity BETWEEN 1 AND 9999),
    -- serial_count doubles as the serial number allocator of the LOT.
    serial_count     INTEGER     NOT NULL DEFAULT 0 CHECK (serial_count BETWEEN 0 AND 9999),
    actual_quantity  INTEGER     NOT NULL DEFAULT 0 CHECK (actual_quantity >= 0),
    defect_quantity  INTEGER     NOT NULL DEFAULT 0 CHECK (defect_quantity >= 0),
    status           VARCHAR(20) NOT NULL DEFAULT 'CREATED'
                     CHECK (status IN ('CREATED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
    priority         VARCHAR(20) NOT NULL DEFAULT 'NORMAL'
                     CHECK (priority IN ('URGENT', 'HIGH', 'NORMAL', 'LOW')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at       TIMESTAMPTZ,
    completed_at     TIMESTAMPTZ,
    created_by       VARCHAR(50) NOT NULL,
    notes            TEXT,
    UNIQUE (plant_code, production_date, shift, lot_seq),
    CHECK (serial_count <= target_quantity),
    CHECK (actual_quantity + defect_quantity <= serial_count),
    CHECK ((status = 'COMPLETED') = (completed_at IS NOT NULL)),
    CHECK (status = 'CREATED' OR started_at IS NOT NULL OR status = 'CANCELLED')
);
CREATE INDEX lots_status ON lots (status);
CREATE INDEX lots_plant_date ON lots (plant_code, production_date);
CREATE INDEX lots_line_date ON lots (line_id, production_date);
CREATE INDEX lots_created ON lots (created_at DESC);

CREATE TABLE serials (
    id                 BIGSERIAL PRIMARY KEY,
    serial_number      VARCHAR(40) NOT NULL UNIQUE
                       CHECK (serial_number ~ '^[A-Z]{2,4}-[A-Z]{2}-[0-9]{6}[DN]-[0-9]{3}-[0-9]{4}$'),
    lot_id             BIGINT      NOT NULL REFERENCES lots(id),
    sequence_in_lot    SMALLINT    NOT NULL CHECK (sequence_in_lot BETWEEN 1 AND 9999),
    status             VARCHAR(20) NOT NULL DEFAULT 'CREATED'
                       CHECK (status IN ('CREATED', 'IN_PROGRESS', 'COMPLETED', 'DEFECTIVE', 'SCRAPPED')),
    -- Routing position (mes-core SerialState): the sequence of the next process to run, whether
    -- a record is open at it, and the work order that record has (bumped by rework).
    next_sequence      INTEGER     NOT NULL DEFAULT 1 CHECK (next_sequence >= 1),
    in_process         BOOLEAN     NOT NULL DEFAULT FALSE,
    work_order         INTEGER     NOT NULL DEFAULT 1 CHECK (work_order >= 1),
    current_process_id INTEGER REFERENCES processes(id),
    is_defective       BOOLEAN     NOT NULL DEFAULT FALSE,
    defect_code        VARCHAR(50) REFERENCES defect_codes(defect_code),
    defect_description TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at         TIMESTAMPTZ,
    completed_at       TIMESTAMPTZ,
    UNIQUE (lot_id, sequence_in_lot),
    CHECK ((status = 'COMPLETED') = (completed_at IS NOT NULL)),
    CHECK (is_defective = (status = 'DEFECTIVE')),
    CHECK (NOT in_process OR status = 'IN_PROGRESS'),
    CHECK (status = 'CREATED' OR started_at IS NOT NULL)
);
CREATE INDEX serials_lot ON serials (lot_id, sequence_in_lot);
CREATE INDEX serials_status ON serials (status);
CREATE INDEX serials_defective ON serials (lot_id) WHERE is_defective;

-- One table for every process record; per-process fields live in JSONB (seed 001 §5.2.5).
CREATE TABLE process_data (
    id                    BIGSERIAL PRIMARY KEY,
    serial_id             BIGINT      NOT NULL REFERENCES serials(id),
    process_id            INTEGER     NOT NULL REFERENCES processes(id),
    work_order            INTEGER     NOT NULL DEFAULT 1 CHECK (work_order >= 1),
    started_at            TIMESTAMPTZ NOT NULL,
    completed_at          TIMESTAMPTZ,
    cycle_time            INTEGER CHECK (cycle_time IS NULL OR cycle_time >= 0),
    operator_id           VARCHAR(50) NOT NULL CHECK (length(btrim(operator_id)) > 0),
    equipment_id          VARCHAR(50),
    workstation           VARCHAR(50),
    status                VARCHAR(20) NOT NULL DEFAULT 'IN_PROGRESS'
                          CHECK (status IN ('IN_PROGRESS', 'COMPLETED', 'FAILED')),
    is_pass               BOOLEAN,
    process_specific_data JSONB,
    inspection_result     JSONB,
    defect_code           VARCHAR(50) REFERENCES defect_codes(defect_code),
    defect_description    TEXT,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (serial_id, process_id, work_order),
    CHECK ((status = 'IN_PROGRESS') = (completed_at IS NULL)),
    CHECK ((status = 'IN_PROGRESS') = (is_pass IS NULL)),
    CHECK (status <> 'COMPLETED' OR is_pass),
    CHECK (status <> 'FAILED' OR (NOT is_pass AND defect_code IS NOT NULL)),
    CHECK (completed_at IS NULL OR completed_at >= started_at)
);
-- The rule "a serial has at most one open process record", enforced by the database.
CREATE UNIQUE INDEX process_data_one_open_per_serial ON process_data (serial_id) WHERE status = 'IN_PROGRESS';
CREATE INDEX process_data_serial ON process_data (serial_id, started_at);
CREATE INDEX process_data_process_started ON process_data (process_id, started_at DESC);
CREATE INDEX process_data_operator ON process_data (operator_id);
CREATE INDEX process_data_specific_gin ON process_data USING GIN (process_specific_data);

CREATE TABLE reworks (
    id                  BIGSERIAL PRIMARY KEY,
    serial_id           BIGINT      NOT NULL REFERENCES serials(id),
    original_process_id INTEGER     NOT NULL REFERENCES processes(id),
    process_data_id     BIGINT REFERENCES process_data(id),
    defect_code         VARCHAR(50) NOT NULL REFERENCES defect_codes(defect_code),
    rework_reason       TEXT,
    rework_operator     VARCHAR(50) NOT NULL,
    rework_started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    rework_completed_at TIMESTAMPTZ,
    is_completed        BOOLEAN     NOT NULL DEFAULT FALSE,
    final_result        VARCHAR(20) CHECK (final_result IN ('PASS', 'SCRAP')),
    notes               TEXT,
    created_by          VARCHAR(50) NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (is_completed = (final_result IS NOT NULL)),
    CHECK (is_completed = (rework_completed_at IS NOT NULL))
);
-- At most one open rework per serial.
CREATE UNIQUE INDEX reworks_one_open_per_serial ON reworks (serial_id) WHERE NOT is_completed;
CREATE INDEX reworks_process ON reworks (original_process_id);
CREATE INDEX reworks_open ON reworks (created_at) WHERE NOT is_completed;

-- ---------------------------------------------------------------------------------------------
-- History, exactly-once, logs

CREATE TABLE status_history (
    id          BIGSERIAL PRIMARY KEY,
    entity_type VARCHAR(20) NOT NULL CHECK (entity_type IN ('LOT', 'SERIAL', 'PROCESS_RECORD', 'REWORK')),
    entity_id   BIGINT      NOT NULL,
    old_status  VARCHAR(20),
    new_status  VARCHAR(20) NOT NULL,
    changed_by  VARCHAR(50) NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    reason      TEXT
);
CREATE INDEX status_history_entity ON status_history (entity_type, entity_id, id);
CREATE INDEX status_history_changed_at ON status_history (changed_at DESC);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    table_name  VARCHAR(50) NOT NULL,
    record_id   BIGINT      NOT NULL,
    action      VARCHAR(10) NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE')),
    old_data    JSONB,
    new_data    JSONB,
    changed_by  VARCHAR(50) NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    ip_address  INET,
    user_agent  TEXT,
    request_id  VARCHAR(64)
);
CREATE INDEX audit_log_record ON audit_log (table_name, record_id, id);
CREATE INDEX audit_log_changed_at ON audit_log (changed_at DESC);
CREATE INDEX audit_log_changed_by ON audit_log (changed_by);

-- A replayed request (same principal + key) returns the stored response and changes nothing.
CREATE TABLE idempotency_keys (
    principal       VARCHAR(80)  NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL CHECK (length(idempotency_key) > 0),
    method          VARCHAR(10)  NOT NULL,
    path            TEXT         NOT NULL,
    request_hash    BYTEA        NOT NULL,
    response_status SMALLINT     NOT NULL,
    response_body   JSONB        NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE error_logs (
    id          BIGSERIAL PRIMARY KEY,
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now(),
    error_code  VARCHAR(50) NOT NULL,
    severity    VARCHAR(20) NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    message     TEXT        NOT NULL,
    context     JSONB,
    request_id  VARCHAR(64),
    resolved    BOOLEAN     NOT NULL DEFAULT FALSE,
    resolved_at TIMESTAMPTZ,
    resolved_by VARCHAR(50),
    notes       TEXT,
    CHECK (resolved = (resolved_at IS NOT NULL))
);
CREATE INDEX error_logs_timestamp ON error_logs ("timestamp" DESC);
CREATE INDEX error_logs_unresolved ON error_logs ("timestamp") WHERE NOT resolved;

CREATE TABLE access_logs (
    id          BIGSERIAL PRIMARY KEY,
    user_id     INTEGER REFERENCES users(id),
    username    VARCHAR(50),
    resource    VARCHAR(50) NOT NULL,
    action      VARCHAR(20) NOT NULL,
    ip_address  INET,
    user_agent  TEXT,
    status_code INTEGER     NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX access_logs_user ON access_logs (user_id);
CREATE INDEX access_logs_timestamp ON access_logs ("timestamp" DESC);

-- ---------------------------------------------------------------------------------------------
-- Triggers: audit and status history in the same transaction as the change.

-- TG_ARGV lists columns never copied into the audit log (password hashes, token hashes).
CREATE FUNCTION audit_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    hidden  text;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
    FOR i IN 0 .. TG_NARGS - 1 LOOP
        hidden := TG_ARGV[i];
        old_row := old_row - hidden;
        new_row := new_row - hidden;
    END LOOP;
    INSERT INTO audit_log (table_name, record_id, action, old_data, new_data, changed_by,
                           ip_address, user_agent, request_id)
    VALUES (TG_TABLE_NAME, (COALESCE(new_row, old_row)->>'id')::bigint, TG_OP, old_row, new_row, mes_actor(),
            mes_setting('mes.ip')::inet, mes_setting('mes.user_agent'), mes_setting('mes.request_id'));
    RETURN NULL;
END
$$;

CREATE FUNCTION status_history_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO status_history (entity_type, entity_id, old_status, new_status, changed_by, reason)
        VALUES (TG_ARGV[0], NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status,
                mes_actor(), mes_setting('mes.reason'));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER production_lines_audit AFTER INSERT OR UPDATE OR DELETE ON production_lines
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER processes_audit AFTER INSERT OR UPDATE OR DELETE ON processes
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER product_models_audit AFTER INSERT OR UPDATE OR DELETE ON product_models
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER defect_codes_audit AFTER INSERT OR UPDATE OR DELETE ON defect_codes
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('hashed_password');
CREATE TRIGGER permissions_audit AFTER INSERT OR UPDATE OR DELETE ON permissions
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER api_tokens_audit AFTER INSERT OR UPDATE OF name, revoked_at, expires_at OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('token_hash');
CREATE TRIGGER lots_audit AFTER INSERT OR UPDATE OR DELETE ON lots
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER serials_audit AFTER INSERT OR UPDATE OR DELETE ON serials
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER process_data_audit AFTER INSERT OR UPDATE OR DELETE ON process_data
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER reworks_audit AFTER INSERT OR UPDATE OR DELETE ON reworks
    FOR EACH ROW EXECUTE FUNCTION audit_trigger();

CREATE TRIGGER lots_status_history AFTER INSERT OR UPDATE OF status ON lots
    FOR EACH ROW EXECUTE FUNCTION status_history_trigger('LOT');
CREATE TRIGGER serials_status_history AFTER INSERT OR UPDATE OF status ON serials
    FOR EACH ROW EXECUTE FUNCTION status_history_trigger('SERIAL');
CREATE TRIGGER process_data_status_history AFTER INSERT OR UPDATE OF status ON process_data
    FOR EACH ROW EXECUTE FUNCTION status_history_trigger('PROCESS_RECORD');

-- ---------------------------------------------------------------------------------------------
-- Views of seed 001 §5.4

CREATE VIEW v_production_summary AS
SELECT l.id AS lot_id, l.lot_number, l.production_date, l.shift, pm.model_name AS product_model,
       l.target_quantity, l.actual_quantity, l.defect_quantity,
       ROUND(l.actual_quantity::numeric / l.target_quantity * 100, 2) AS completion_rate,
       ROUND(l.defect_quantity::numeric / NULLIF(l.actual_quantity + l.defect_quantity, 0) * 100, 2) AS defect_rate,
       l.status, l.created_at, l.started_at, l.completed_at
FROM lots l
JOIN product_models pm ON pm.id = l.product_model_id;

CREATE VIEW v_process_progress AS
SELECT p.line_id, p.process_code, p.process_name,
       COUNT(DISTINCT pd.serial_id) AS total_processed,
       COUNT(DISTINCT pd.serial_id) FILTER (WHERE pd.is_pass) AS passed,
       COUNT(DISTINCT pd.serial_id) FILTER (WHERE NOT pd.is_pass) AS failed,
       ROUND(AVG(pd.cycle_time), 2) AS avg_cycle_time,
       MIN(pd.cycle_time) AS min_cycle_time,
       MAX(pd.cycle_time) AS max_cycle_time
FROM process_data pd
JOIN processes p ON p.id = pd.process_id
WHERE pd.started_at >= CURRENT_DATE
GROUP BY p.line_id, p.id, p.process_code, p.process_name, p.sequence_order;
