//! The OpenAPI document, generated from the handlers' annotations, and the browsable docs at
//! `/docs` (Swagger UI assets vendored into the binary: plants run on closed networks).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::http::{
    api_tokens, auth, dashboard, defect_codes, history, lines, lots, process, product_models,
    reworks, serials, users,
};
use crate::state::AppState;

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "MES API", description = "LOT and serial tracking through a production line's processes."),
    paths(
        auth::login, auth::me,
        users::list, users::create, users::get_one, users::update, users::deactivate,
        api_tokens::list, api_tokens::create, api_tokens::revoke,
        lines::list, lines::get_one, lines::upsert, lines::deactivate,
        product_models::list, product_models::get_one, product_models::create,
        defect_codes::list, defect_codes::create,
        lots::create, lots::list, lots::get_one,
        serials::create, serials::get_one,
        process::start, process::complete, process::records,
        reworks::create, reworks::complete, reworks::list,
        history::audit, history::serial_history,
        dashboard::summary, dashboard::line_kpis,
    ),
    components(schemas(
        crate::error::ErrorEnvelope,
        crate::error::ErrorBody,
        crate::http::lots::LotStatus,
        crate::http::lots::Priority,
        crate::auth::Role,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Log in, who am I"),
        (name = "users", description = "Users (ADMIN)"),
        (name = "api-tokens", description = "Station API tokens (ADMIN)"),
        (name = "lines", description = "Production lines and their routing"),
        (name = "master-data", description = "Product models and defect codes"),
        (name = "lots", description = "LOTs"),
        (name = "serials", description = "Serials and their genealogy"),
        (name = "process", description = "Station events: START and COMPLETE"),
        (name = "rework", description = "Rework of defective serials"),
        (name = "history", description = "Audit log and status history"),
        (name = "dashboard", description = "Production summary and line KPIs"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or station token")
                    .build(),
            ),
        );
    }
}

pub fn docs() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/api/v1/openapi.json", ApiDoc::openapi())
        .into()
}
