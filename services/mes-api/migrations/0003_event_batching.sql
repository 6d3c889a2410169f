-- Batched event writes (docs/performance.md, "Batched event writer"): fewer rows and indexes per
-- event, O(1) LOT closing, and audit rows written inline by the batch statements.

-- A LOT closes when every serial of its target is finished (COMPLETED or SCRAPPED). Counting the
-- finished serials on the LOT row replaces the scan of the LOT's serials on every completion.
ALTER TABLE lots ADD COLUMN finished_quantity INTEGER NOT NULL DEFAULT 0
    CHECK (finished_quantity BETWEEN 0 AND serial_count);
UPDATE lots l SET finished_quantity = f.n
FROM (SELECT lot_id, count(*)::int AS n FROM serials WHERE status IN ('COMPLETED', 'SCRAPPED') GROUP BY lot_id) f
WHERE f.lot_id = l.id;

-- Redundant or unused indexes: each one costs an index insert on every event (serial updates
-- change `status`, so they are never HOT). See docs/decisions.md (19).
DROP INDEX serials_lot;                -- same key as UNIQUE (lot_id, sequence_in_lot)
DROP INDEX serials_status;             -- no query filters serials by status alone
DROP INDEX process_data_serial;        -- UNIQUE (serial_id, process_id, work_order) serves serial_id
DROP INDEX process_data_specific_gin;  -- no query searches inside process_specific_data
-- Append-only logs are scanned by time only for retention: BRIN instead of B-tree.
DROP INDEX audit_log_changed_at;
CREATE INDEX audit_log_changed_at ON audit_log USING brin (changed_at);
DROP INDEX status_history_changed_at;
CREATE INDEX status_history_changed_at ON status_history USING brin (changed_at);

-- The event writer writes the audit_log / status_history rows of its changes itself, with each
-- event's own actor and request (a batch mixes stations, so transaction-local `mes.user` cannot
-- name them), and sets `mes.audit_inline` = 'on' for its transaction; the triggers then stand
-- aside. Every other write still goes through the triggers.
DROP TRIGGER lots_audit ON lots;
DROP TRIGGER serials_audit ON serials;
DROP TRIGGER process_data_audit ON process_data;
DROP TRIGGER lots_status_history ON lots;
DROP TRIGGER serials_status_history ON serials;
DROP TRIGGER process_data_status_history ON process_data;

CREATE TRIGGER lots_audit AFTER INSERT OR UPDATE OR DELETE ON lots FOR EACH ROW
    WHEN (current_setting('mes.audit_inline', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER serials_audit AFTER INSERT OR UPDATE OR DELETE ON serials FOR EACH ROW
    WHEN (current_setting('mes.audit_inline', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER process_data_audit AFTER INSERT OR UPDATE OR DELETE ON process_data FOR EACH ROW
    WHEN (current_setting('mes.audit_inline', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION audit_trigger();
CREATE TRIGGER lots_status_history AFTER INSERT OR UPDATE OF status ON lots FOR EACH ROW
    WHEN (current_setting('mes.audit_inline', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION status_history_trigger('LOT');
CREATE TRIGGER serials_status_history AFTER INSERT OR UPDATE OF status ON serials FOR EACH ROW
    WHEN (current_setting('mes.audit_inline', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION status_history_trigger('SERIAL');
CREATE TRIGGER process_data_status_history AFTER INSERT OR UPDATE OF status ON process_data FOR EACH ROW
    WHEN (current_setting('mes.audit_inline', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION status_history_trigger('PROCESS_RECORD');
