//! The production line the simulator drives: its routing and data schemas as mes-api serves them,
//! the defect codes a failure may carry, and seeding of the demo master data.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{CallError, Session};

pub const DEMO_LINE: &str = include_str!("../../../xtask/demo/line-L1.json");
pub const DEMO_PRODUCT_MODEL: &str = include_str!("../../../xtask/demo/product-model.json");
pub const DEMO_DEFECT_CODES: &str = include_str!("../../../xtask/demo/defect-codes.json");

#[derive(Debug, Clone, Deserialize)]
pub struct Process {
    pub code: String,
    pub sequence: u32,
    pub standard_cycle_time_seconds: u32,
    #[serde(default)]
    pub data_schema: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StationDef {
    pub name: String,
    pub process_code: String,
    #[serde(default)]
    pub equipment_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    #[serde(default)]
    pub line_code: String,
    #[serde(default)]
    pub processes: Vec<Process>,
    #[serde(default)]
    pub stations: Vec<StationDef>,
    #[serde(default)]
    pub product_models: Vec<String>,
}

impl Line {
    /// Reads the line; with `seed`, creates the demo master data first when the line is missing.
    pub async fn load(admin: &Session, code: &str, seed: bool) -> anyhow::Result<Self> {
        let path = format!("/lines/{code}");
        let line = match admin.get::<Line>(&path).await {
            Ok(line) => line,
            Err(e) if e.status() == Some(404) && seed => {
                seed_demo(admin, code).await?;
                admin.get::<Line>(&path).await?
            }
            Err(e) if e.status() == Some(404) => {
                bail!("line {code} does not exist in mes-api; pass --seed to create the demo line")
            }
            Err(e) => return Err(e).context("reading the line"),
        };
        let mut line = line;
        line.processes.sort_by_key(|p| p.sequence);
        if line.processes.is_empty() {
            bail!("line {code} has no processes");
        }
        Ok(line)
    }

    pub fn step_of(&self, process_code: &str) -> Option<usize> {
        self.processes.iter().position(|p| p.code == process_code)
    }

    /// The line's station definition for a process, if the line names one.
    pub fn station_for(&self, process_code: &str) -> Option<&StationDef> {
        self.stations
            .iter()
            .find(|s| s.process_code == process_code)
    }

    /// The product model LOTs are created for: the given one, else the line's first.
    pub fn model_for_lots(&self, requested: Option<&str>) -> anyhow::Result<String> {
        match (requested, self.product_models.first()) {
            (Some(m), _) => Ok(m.to_owned()),
            (None, Some(m)) => Ok(m.clone()),
            (None, None) => bail!(
                "line {} names no product model; pass --product-model",
                self.line_code
            ),
        }
    }
}

/// Defect codes by the process they are typical for.
#[derive(Debug, Clone, Default)]
pub struct DefectCatalogue {
    by_process: BTreeMap<String, Vec<String>>,
}

impl DefectCatalogue {
    pub async fn load(session: &Session) -> anyhow::Result<Self> {
        #[derive(Deserialize)]
        struct Code {
            defect_code: String,
            process_code: Option<String>,
            #[serde(default = "yes")]
            is_active: bool,
        }
        fn yes() -> bool {
            true
        }
        let codes: Vec<Code> = session.get("/defect-codes").await?;
        let mut by_process: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in codes.into_iter().filter(|c| c.is_active) {
            if let Some(p) = c.process_code {
                by_process.entry(p).or_default().push(c.defect_code);
            }
        }
        Ok(Self { by_process })
    }

    /// The codes a failure at `process` may carry; empty means the process never fails here.
    pub fn for_process(&self, process: &str) -> &[String] {
        self.by_process
            .get(process)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

fn exists_already(e: &CallError) -> bool {
    e.status() == Some(409)
}

/// Creates the demo product model, defect codes and line (`xtask/demo/*.json`) under `code`.
/// Parts that exist already are left as they are.
pub async fn seed_demo(admin: &Session, code: &str) -> anyhow::Result<()> {
    tracing::info!(line = code, "seeding the demo master data");
    let model: Value = serde_json::from_str(DEMO_PRODUCT_MODEL)?;
    match admin.post::<Value>("/product-models", &model, None).await {
        Ok(_) => {}
        Err(e) if exists_already(&e) => {}
        Err(e) => return Err(e).context("creating the demo product model"),
    }
    let codes: Vec<Value> = serde_json::from_str(DEMO_DEFECT_CODES)?;
    for c in &codes {
        match admin.post::<Value>("/defect-codes", c, None).await {
            Ok(_) => {}
            Err(e) if exists_already(&e) => {}
            Err(e) => return Err(e).context(format!("creating defect code {c}")),
        }
    }
    let line: Value = serde_json::from_str(DEMO_LINE)?;
    admin
        .put::<Value>(&format!("/lines/{code}"), &line)
        .await
        .context("creating the demo line")?;
    Ok(())
}

/// Creates a station API token (OPERATOR role) and returns its secret.
pub async fn station_token(
    admin: &Session,
    name: &str,
    workstation: Option<&str>,
    process_code: Option<&str>,
) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Created {
        token: String,
    }
    let mut body = json!({ "name": name });
    if let Some(w) = workstation {
        body["workstation"] = json!(w);
    }
    if let Some(p) = process_code {
        body["process_code"] = json!(p);
    }
    let created: Created = admin
        .post("/api-tokens", &body, None)
        .await
        .with_context(|| format!("creating the station token {name}"))?
        .data;
    Ok(created.token)
}

/// Creates a LOT of `quantity` and all its serials; returns the serial numbers in order.
pub async fn new_lot_with_serials(
    admin: &Session,
    line: &str,
    model: &str,
    quantity: u32,
) -> anyhow::Result<(String, Vec<String>)> {
    #[derive(Deserialize)]
    struct Lot {
        lot_number: String,
    }
    #[derive(Deserialize)]
    struct Serials {
        serials: Vec<String>,
    }
    let lot: Lot = admin
        .post(
            "/lots",
            &json!({ "line_code": line, "product_model_code": model, "target_quantity": quantity }),
            None,
        )
        .await
        .context("creating a LOT")?
        .data;
    let serials: Serials = admin
        .post(
            &format!("/lots/{}/serials", lot.lot_number),
            &json!({ "quantity": quantity }),
            None,
        )
        .await
        .with_context(|| format!("creating the serials of {}", lot.lot_number))?
        .data;
    Ok((lot.lot_number, serials.serials))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_line_parses_in_routing_order() {
        let mut line: Line = serde_json::from_str(DEMO_LINE).expect("demo line");
        line.processes.sort_by_key(|p| p.sequence);
        let codes: Vec<_> = line.processes.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(
            codes,
            ["SPRING", "LMA", "LASER", "EOL", "ROBOT", "PRINT", "PACK"]
        );
        assert_eq!(line.step_of("EOL"), Some(3));
        assert_eq!(
            line.station_for("EOL").map(|s| s.name.as_str()),
            Some("STATION-04")
        );
        assert_eq!(
            line.model_for_lots(None).expect("model"),
            "NH-F2X-001".to_owned()
        );
    }
}
