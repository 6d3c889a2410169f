-- Production execution (issue 3): counters maintained in the event transaction so dashboards
-- never scan process records.

-- Per hour, line, process and shard: events of that hour. Sharded so that concurrent stations
-- at one process do not queue on a single counter row; readers sum the shards.
CREATE TABLE process_rollups (
    bucket         TIMESTAMPTZ NOT NULL CHECK (date_trunc('hour', bucket) = bucket),
    line_id        INTEGER     NOT NULL REFERENCES production_lines(id),
    process_id     INTEGER     NOT NULL REFERENCES processes(id),
    shard          SMALLINT    NOT NULL CHECK (shard BETWEEN 0 AND 15),
    started        INTEGER     NOT NULL DEFAULT 0 CHECK (started >= 0),
    passed         INTEGER     NOT NULL DEFAULT 0 CHECK (passed >= 0),
    failed         INTEGER     NOT NULL DEFAULT 0 CHECK (failed >= 0),
    -- serials that passed the line's last process (units completed)
    completed      INTEGER     NOT NULL DEFAULT 0 CHECK (completed >= 0),
    cycle_time_sum BIGINT      NOT NULL DEFAULT 0 CHECK (cycle_time_sum >= 0),
    PRIMARY KEY (line_id, bucket, process_id, shard)
);

-- Work in progress per line: serials started and not finished.
CREATE INDEX serials_wip ON serials (lot_id) WHERE status IN ('IN_PROGRESS', 'DEFECTIVE');
CREATE INDEX lots_open ON lots (line_id) WHERE status IN ('CREATED', 'IN_PROGRESS');
CREATE INDEX lots_production_date ON lots (production_date);
CREATE INDEX reworks_serial ON reworks (serial_id, id);
CREATE INDEX process_data_open_by_process ON process_data (process_id) WHERE status = 'IN_PROGRESS';
