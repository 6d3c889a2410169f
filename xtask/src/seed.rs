//! Demo data for the local stack, created through mes-api's HTTP API so that seeding exercises
//! the same contract as every other client. The line definition and defect codes are data files
//! under `xtask/demo/` (the Kubernetes examples reuse the line definition).

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

pub const DEMO_LINE: &str = "L1";
const PRODUCT_MODEL: &str = include_str!("../demo/product-model.json");
const LINE_DEFINITION: &str = include_str!("../demo/line-L1.json");
const DEFECT_CODES: &str = include_str!("../demo/defect-codes.json");

/// A login for the printed table and `.local/dev/credentials.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    pub username: &'static str,
    pub role: &'static str,
    pub full_name: &'static str,
    pub password: String,
}

/// One demo user per role. `admin` is mes-api's bootstrap admin and already exists.
pub const DEMO_ACCOUNTS: [(&str, &str, &str); 3] = [
    ("admin", "ADMIN", "Bootstrap Administrator"),
    ("supervisor", "SUPERVISOR", "Demo Supervisor"),
    ("operator", "OPERATOR", "Demo Operator"),
];

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Seeded,
    AlreadySeeded,
}

/// Seeds the demo plant unless line `L1` exists already. `users[0]` must be the admin.
pub async fn seed(api_base: &Url, users: &[DemoUser]) -> Result<Outcome> {
    let admin = users.first().context("no admin user to seed with")?;
    let api = Api::login(api_base, admin).await?;

    let line_path = format!("lines/{DEMO_LINE}");
    match api.send(Method::GET, &line_path, None).await? {
        (StatusCode::OK, _) => return Ok(Outcome::AlreadySeeded),
        (StatusCode::NOT_FOUND, _) => {}
        (status, body) => bail!("GET /api/v1/{line_path}: {}", describe(status, &body)),
    }

    println!(
        "seed: creating the demo plant (product model, line {DEMO_LINE}, defect codes, users)"
    );
    api.create(
        "product-models",
        parse(PRODUCT_MODEL, "product-model.json")?,
    )
    .await?;
    // Processes must exist before defect codes can name them.
    api.put(&line_path, parse(LINE_DEFINITION, "line-L1.json")?)
        .await?;
    let defect_codes = parse(DEFECT_CODES, "defect-codes.json")?;
    for defect_code in defect_codes
        .as_array()
        .context("defect-codes.json is not an array")?
    {
        api.create("defect-codes", defect_code.clone()).await?;
    }
    for user in users.iter().filter(|user| user.username != admin.username) {
        let body = json!({
            "username": user.username,
            "password": user.password,
            "full_name": user.full_name,
            "role": user.role,
        });
        api.create("users", body).await?;
    }
    Ok(Outcome::Seeded)
}

/// The demo logins as an aligned table (printed once, and kept in the credentials file).
pub fn credentials_table(users: &[DemoUser]) -> String {
    let width = |column: fn(&DemoUser) -> &str, title: &str| {
        users
            .iter()
            .map(|user| column(user).len())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let user_width = width(|user| user.username, "user");
    let role_width = width(|user| user.role, "role");
    let mut table = format!(
        "{:<user_width$}  {:<role_width$}  password\n",
        "user", "role"
    );
    for user in users {
        table.push_str(&format!(
            "{:<user_width$}  {:<role_width$}  {}\n",
            user.username, user.role, user.password
        ));
    }
    table
}

fn parse(text: &str, file: &str) -> Result<Value> {
    serde_json::from_str(text).with_context(|| format!("xtask/demo/{file} is not valid JSON"))
}

/// A logged-in client of `/api/v1`.
struct Api {
    http: reqwest::Client,
    base: Url,
    token: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct Login {
    access_token: String,
}

impl Api {
    async fn login(base: &Url, admin: &DemoUser) -> Result<Self> {
        let http = reqwest::Client::new();
        let url = base.join("auth/login")?;
        let body = json!({ "username": admin.username, "password": admin.password });
        let response = http
            .post(url)
            .json(&body)
            .send()
            .await
            .context("POST /api/v1/auth/login")?;
        let status = response.status();
        let text = response.text().await?;
        if status != StatusCode::OK {
            bail!(
                "could not log in as `{}`: {}\n(the database may predate .local/dev/{}-password; \
                 `cargo xtask dev --reset` recreates it)",
                admin.username,
                describe(status, &text),
                admin.username
            );
        }
        let login: Envelope<Login> =
            serde_json::from_str(&text).context("unexpected login response")?;
        Ok(Api {
            http,
            base: base.clone(),
            token: login.data.access_token,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, String)> {
        let shown = format!("{method} /api/v1/{path}");
        let mut request = self
            .http
            .request(method, self.base.join(path)?)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| shown.clone())?;
        let status = response.status();
        Ok((status, response.text().await.with_context(|| shown)?))
    }

    /// POST that treats 409 (already there) as success, so a half-finished seed can be re-run.
    async fn create(&self, path: &str, body: Value) -> Result<()> {
        match self.send(Method::POST, path, Some(body.clone())).await? {
            (status, _) if status.is_success() || status == StatusCode::CONFLICT => Ok(()),
            (status, text) => bail!("POST /api/v1/{path} {body}: {}", describe(status, &text)),
        }
    }

    async fn put(&self, path: &str, body: Value) -> Result<()> {
        match self.send(Method::PUT, path, Some(body)).await? {
            (status, _) if status.is_success() => Ok(()),
            (status, text) => bail!("PUT /api/v1/{path}: {}", describe(status, &text)),
        }
    }
}

/// `409 Conflict: DUPLICATE (defect code exists)` from the error envelope, or the raw body.
fn describe(status: StatusCode, body: &str) -> String {
    let error = serde_json::from_str::<Value>(body).ok().and_then(|value| {
        let error = value.get("error")?;
        Some(format!(
            "{} ({})",
            error.get("code")?.as_str()?,
            error.get("message").and_then(Value::as_str).unwrap_or("")
        ))
    });
    format!(
        "{status}: {}",
        error.unwrap_or_else(|| body.chars().take(500).collect())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: &'static str, role: &'static str, password: &str) -> DemoUser {
        DemoUser {
            username,
            role,
            full_name: "",
            password: password.to_owned(),
        }
    }

    #[test]
    fn credentials_table_aligns_columns() {
        let users = [
            user("admin", "ADMIN", "a1"),
            user("supervisor", "SUPERVISOR", "s2"),
        ];
        assert_eq!(
            credentials_table(&users),
            "user        role        password\n\
             admin       ADMIN       a1\n\
             supervisor  SUPERVISOR  s2\n"
        );
    }

    #[test]
    fn error_envelope_is_described_by_code_and_message() {
        let body = r#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"bad schema","details":{}},"timestamp":"x"}"#;
        assert_eq!(
            describe(StatusCode::UNPROCESSABLE_ENTITY, body),
            "422 Unprocessable Entity: VALIDATION_ERROR (bad schema)"
        );
        assert_eq!(
            describe(StatusCode::BAD_GATEWAY, "upstream down"),
            "502 Bad Gateway: upstream down"
        );
    }

    #[test]
    fn demo_line_has_the_seven_processes_in_order_each_with_a_station_and_schema() -> Result<()> {
        let line = parse(LINE_DEFINITION, "line-L1.json")?;
        let processes = line["processes"].as_array().context("processes")?;
        let codes: Vec<&str> = processes
            .iter()
            .filter_map(|p| p["code"].as_str())
            .collect();
        assert_eq!(
            codes,
            ["SPRING", "LMA", "LASER", "EOL", "ROBOT", "PRINT", "PACK"]
        );
        let cycle_times: Vec<u64> = processes
            .iter()
            .filter_map(|p| p["standard_cycle_time_seconds"].as_u64())
            .collect();
        assert_eq!(cycle_times, [120, 180, 60, 300, 180, 60, 120]);
        for (index, process) in processes.iter().enumerate() {
            assert_eq!(process["sequence"].as_u64(), Some(index as u64 + 1));
            let schema = &process["data_schema"];
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            assert_eq!(schema["type"], "object");
            // Every required field must be described, or the schema could never be satisfied sensibly.
            for required in schema["required"].as_array().context("required")? {
                let name = required.as_str().context("required name")?;
                assert!(
                    schema["properties"].get(name).is_some(),
                    "{name} required but not described"
                );
            }
        }
        let station_processes: Vec<&str> = line["stations"]
            .as_array()
            .context("stations")?
            .iter()
            .filter_map(|s| s["process_code"].as_str())
            .collect();
        assert_eq!(station_processes, codes);
        assert_eq!(line["product_models"], json!(["NH-F2X-001"]));
        Ok(())
    }

    #[test]
    fn defect_codes_name_processes_of_the_demo_line() -> Result<()> {
        let line = parse(LINE_DEFINITION, "line-L1.json")?;
        let codes: Vec<&str> = line["processes"]
            .as_array()
            .context("processes")?
            .iter()
            .filter_map(|p| p["code"].as_str())
            .collect();
        let defects = parse(DEFECT_CODES, "defect-codes.json")?;
        let defects = defects.as_array().context("array")?;
        assert_eq!(defects.len(), 8);
        for defect in defects {
            let process = defect["process_code"].as_str().context("process_code")?;
            assert!(
                codes.contains(&process),
                "{defect} names an unknown process"
            );
            assert!(
                ["CRITICAL", "MAJOR", "MINOR"].contains(&defect["severity"].as_str().unwrap_or(""))
            );
        }
        Ok(())
    }
}
