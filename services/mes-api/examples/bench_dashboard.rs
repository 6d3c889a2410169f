//! Dashboard benchmark (STANDARDS.md): `GET /dashboard/summary` and `/dashboard/lines/L1/kpis`
//! latency with N process records in the database.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release -p mes-api --example bench_dashboard -- 1000000 10000000
//! ```
//!
//! For each size it creates a scratch database, applies the migrations, loads the demo line and
//! N process records spread over 30 production days (with the rollup rows the event path would
//! have written), serves mes-api in-process and times 300 requests of each dashboard endpoint.
//! The records are bulk-loaded with triggers off: this measures reading, not writing.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

const LINE: &str = include_str!("../../../xtask/demo/line-L1.json");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let admin_url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL (a role that may CREATE DATABASE)");
    let sizes: Vec<i64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("record counts"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000_000]
    } else {
        sizes
    };
    println!("| process records | endpoint | p50 ms | p99 ms | load time |");
    println!("|---:|---|---:|---:|---:|");
    for n in sizes {
        let name = format!("mes_bench_dashboard_{n}");
        let mut admin = PgConnection::connect(&admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        let url = format!("{}/{name}", &admin_url[..admin_url.rfind('/').unwrap()]);
        let db = PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await?;
        let loaded = Instant::now();
        let config = mes_api::config::Config::from_lookup(|k| match k {
            "DATABASE_URL" => Some(url.clone()),
            "MES_JWT_SECRET" => Some("bench-secret-bench-secret-bench-secret".into()),
            "MES_PLANT_CODE" => Some("KR".into()),
            "MES_BOOTSTRAP_ADMIN_USER" => Some("admin".into()),
            "MES_BOOTSTRAP_ADMIN_PASSWORD" => Some("bench-password".into()),
            _ => None,
        })?;
        let state = mes_api::prepare(db.clone(), config).await?;
        load(&db, n).await?;
        let load_time = loaded.elapsed();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mes_api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": "admin", "password": "bench-password" }))
            .send()
            .await?
            .json()
            .await?;
        let token = login["data"]["access_token"].as_str().unwrap().to_owned();
        for path in [
            "/api/v1/dashboard/summary",
            "/api/v1/dashboard/lines/L1/kpis",
        ] {
            let mut took = Vec::with_capacity(300);
            for i in 0..320 {
                let t = Instant::now();
                let r = client
                    .get(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                assert!(r.status().is_success(), "{path}: {}", r.status());
                r.bytes().await?;
                if i >= 20 {
                    took.push(t.elapsed());
                }
            }
            took.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "| {n} | `{path}` | {:.2} | {:.2} | {:.0} s |",
                ms(took[took.len() / 2]),
                ms(took[took.len() * 99 / 100]),
                load_time.as_secs_f64()
            );
        }
        let _ = stop.send(());
        db.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
    }
    Ok(())
}

/// The demo line, LOTs of 1000 serials over the last 30 days, and `n` completed process records
/// (7 per serial) with their hourly rollups.
async fn load(db: &sqlx::PgPool, n: i64) -> anyhow::Result<()> {
    let line: serde_json::Value = serde_json::from_str(LINE)?;
    let mut tx = db.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO product_models (model_code, model_name) VALUES ('NH-F2X-001', 'F2X')")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO production_lines (line_code, display_name) VALUES ('L1', 'Line 1')")
        .execute(&mut *tx)
        .await?;
    for p in line["processes"].as_array().unwrap() {
        sqlx::query("INSERT INTO processes (line_id, process_code, process_name, sequence_order, standard_cycle_time, data_schema) VALUES (1, $1, $2, $3, $4, $5)")
            .bind(p["code"].as_str())
            .bind(p["name"].as_str())
            .bind(p["sequence"].as_i64().unwrap() as i32)
            .bind(p["standard_cycle_time_seconds"].as_i64().unwrap() as i32)
            .bind(&p["data_schema"])
            .execute(&mut *tx)
            .await?;
    }
    let serials = n / 7;
    let lots = (serials + 999) / 1000;
    sqlx::query(
        "INSERT INTO lots (lot_number, plant_code, line_id, product_model_id, production_date, shift, lot_seq,
                           target_quantity, serial_count, actual_quantity, status, created_by, started_at, completed_at)
         SELECT format('FN-KR-%s%s-%s', to_char(d, 'YYMMDD'), 'D', lpad(((g - 1) / 30 + 1)::text, 3, '0')),
                'KR', 1, 1, d, 'D', (g - 1) / 30 + 1, 1000, 1000, 1000, 'COMPLETED', 'bench', d, d + interval '8 hours'
         FROM generate_series(1, $1) g, LATERAL (SELECT (current_date - ((g - 1) % 30)::int) AS d) x",
    )
    .bind(lots)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO serials (serial_number, lot_id, sequence_in_lot, status, next_sequence, started_at, completed_at)
         SELECT l.lot_number || '-' || lpad(s::text, 4, '0'), l.id, s, 'COMPLETED', 8, l.started_at, l.completed_at
         FROM lots l, generate_series(1, 1000) s WHERE (l.id - 1) * 1000 + s <= $1",
    )
    .bind(serials)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO process_data (serial_id, process_id, work_order, started_at, completed_at, cycle_time, operator_id,
                                   status, is_pass, process_specific_data)
         SELECT s.id, p.id, 1, s.started_at + (p.sequence_order * interval '10 minutes'),
                s.started_at + (p.sequence_order * interval '10 minutes') + interval '2 minutes', 120, 'W1',
                'COMPLETED', true, jsonb_build_object('value', s.id % 100)
         FROM serials s CROSS JOIN processes p",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO process_rollups (bucket, line_id, process_id, shard, started, passed, completed, cycle_time_sum)
         SELECT date_trunc('hour', d.started_at), 1, d.process_id, (d.serial_id % 16)::int2, count(*), count(*),
                count(*) FILTER (WHERE d.process_id = 7), sum(d.cycle_time)
         FROM process_data d GROUP BY 1, 3, 4",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(db).await?;
    Ok(())
}
