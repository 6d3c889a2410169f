//! HTTP routes: parses Kubernetes REST paths and query parameters, applies injected faults,
//! and maps each request to one store call. Lists and watches are assembled from the objects'
//! pre-serialized bytes so that large lists stay cheap.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::Shared;
use crate::apply::Section;
use crate::discovery::{self, ResourceInfo};
use crate::error::{ApiError, ApiResult};
use crate::faults::Verb;
use crate::list_body::ListBody;
use crate::list_cache::{self, ListKey, Lookup};
use crate::logs::LogKey;
use crate::patch::PatchKind;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{
    Change, DeleteOpts, EventType, GroupResource, Propagation, Stored, WatchStart, WriteCtx,
};
use crate::table;

pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(shared)
}

fn json_response(status: u16, body: &Value) -> Response {
    bytes_response(
        status,
        Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
    )
}

fn bytes_response(status: u16, body: Bytes) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_response(e: &ApiError) -> Response {
    let mut resp = json_response(e.code, &e.status_body());
    if e.code == 429 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    resp
}

/// A parsed resource path.
#[derive(Debug)]
struct Target {
    info: ResourceInfo,
    version: String,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Target {
    fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or("")
    }
}

type Params = HashMap<String, String>;

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    // Discovery documents.
    let discovery_doc = {
        let inner = shared.store.lock();
        match segs.as_slice() {
            ["version"] => Some(Some(discovery::version_doc())),
            ["api"] => Some(Some(discovery::core_versions())),
            ["api", v] => Some(discovery::resource_list(&inner.resources, "", v)),
            ["apis"] => Some(Some(discovery::group_list(&inner.resources))),
            ["apis", g] => Some(
                discovery::group_list(&inner.resources)["groups"]
                    .as_array()
                    .and_then(|gs| gs.iter().find(|x| x["name"] == *g).cloned())
                    .map(|mut g| {
                        g["kind"] = json!("APIGroup");
                        g["apiVersion"] = json!("v1");
                        g
                    }),
            ),
            ["apis", g, v] => Some(discovery::resource_list(&inner.resources, g, v)),
            ["healthz" | "livez" | "readyz"] => {
                return (StatusCode::OK, "ok").into_response();
            }
            _ => None,
        }
    };
    if let Some(doc) = discovery_doc {
        return match doc {
            Some(doc) if method == Method::GET => json_response(200, &doc),
            Some(_) => error_response(&ApiError::new(
                405,
                "MethodNotAllowed",
                "method not allowed",
            )),
            None => error_response(&ApiError::not_found("path", uri.path())),
        };
    }
    let target = match parse_target(&shared, &segs) {
        Some(t) => t,
        None => {
            return error_response(&ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    };
    let is_watch = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (&method, target.name.is_some()) {
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if is_watch => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, _) => Verb::Delete,
        _ => {
            return error_response(&ApiError::new(
                405,
                "MethodNotAllowed",
                "method not allowed",
            ));
        }
    };
    let outcome = shared.faults.check(verb, &target.info.plural);
    if let Some(latency) = outcome.latency {
        // Injected latency is the fault itself, not a wait in a test.
        tokio::time::sleep(latency).await;
    }
    if let Some(e) = outcome.error {
        return error_response(&e);
    }
    shared.count_request(verb, &target.info.plural);
    let result = match verb {
        Verb::Watch => return watch(shared, target, &params),
        Verb::Get if target.sub.as_deref() == Some("log") => {
            return pod_log(shared, target, &params);
        }
        Verb::Get => get(&shared, &target, &headers, &params),
        Verb::List => list(&shared, &target, &headers, &params),
        Verb::Create => create(&shared, &target, &headers, &params, &body),
        Verb::Update => update(&shared, &target, &headers, &params, &body),
        Verb::Patch => patch(&shared, &target, &headers, &params, &body),
        Verb::Delete if target.name.is_some() => delete(&shared, &target, &params, &body),
        Verb::Delete => delete_collection(&shared, &target, &params, &body),
    };
    match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn parse_target(shared: &Shared, segs: &[&str]) -> Option<Target> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, plural, rest @ ..]
            if !matches!(*plural, "status" | "finalize") || !rest.is_empty() =>
        {
            (Some(ns.to_string()), {
                let mut v = vec![*plural];
                v.extend_from_slice(rest);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    let info = shared.store.lock().info(group, version, plural).cloned()?;
    // Namespaced objects are addressed inside a namespace; cluster-scoped ones never are.
    if (info.namespaced && ns.is_none() && name.is_some()) || (!info.namespaced && ns.is_some()) {
        return None;
    }
    match sub.as_deref() {
        None => {}
        Some("status") if info.status_subresource => {}
        Some("log") if info.group.is_empty() && info.plural == "pods" => {}
        Some(_) => return None,
    }
    Some(Target {
        info,
        version: version.to_string(),
        ns,
        name,
        sub,
    })
}

fn section(t: &Target) -> Section {
    if t.sub.as_deref() == Some("status") {
        Section::Status
    } else {
        Section::Main {
            has_status_subresource: t.info.status_subresource,
        }
    }
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        })
}

/// Object bytes at the requested version: stored bytes unless the object was written at another
/// version of a multi-version CRD (no conversion beyond relabelling `apiVersion`).
fn object_bytes(t: &Target, s: &Stored) -> Bytes {
    match relabelled(t, s) {
        std::borrow::Cow::Borrowed(_) => s.bytes.clone(),
        std::borrow::Cow::Owned(v) => Bytes::from(v),
    }
}

/// Borrowed unless the object must be relabelled. Only resources served at several versions
/// need the check; skipping it otherwise keeps big lists from touching each object's strings.
fn relabelled<'a>(t: &Target, s: &'a Stored) -> std::borrow::Cow<'a, [u8]> {
    if t.info.versions.len() == 1 {
        return std::borrow::Cow::Borrowed(&s.bytes[..]);
    }
    let want = t.info.api_version(&t.version);
    if s.api_version == want {
        return std::borrow::Cow::Borrowed(&s.bytes[..]);
    }
    let mut v = s.value.clone();
    v["apiVersion"] = json!(want);
    std::borrow::Cow::Owned(serde_json::to_vec(&v).unwrap_or_default())
}

fn object_response(t: &Target, status: u16, s: &Stored) -> Response {
    bytes_response(status, object_bytes(t, s))
}

fn manager(headers: &HeaderMap, params: &Params) -> String {
    if let Some(m) = params.get("fieldManager") {
        return m.clone();
    }
    // The real server derives a default manager from the user agent's program name.
    headers
        .get(header::USER_AGENT)
        .and_then(|u| u.to_str().ok())
        .and_then(|u| u.split('/').next())
        .unwrap_or("unknown")
        .to_string()
}

fn write_ctx(headers: &HeaderMap, params: &Params, verb: &'static str) -> WriteCtx {
    WriteCtx {
        manager: manager(headers, params),
        verb,
        dry_run: params.get("dryRun").is_some_and(|d| d == "All"),
    }
}

fn parse_json(body: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn get(shared: &Shared, t: &Target, headers: &HeaderMap, params: &Params) -> ApiResult<Response> {
    let name = t.name.as_deref().unwrap_or("");
    let obj = shared.store.lock().get(&t.info, t.ns(), name)?;
    if wants_table(headers) {
        let rv = obj.meta_str("resourceVersion").unwrap_or("").to_string();
        let include = params.get("includeObject").is_some_and(|i| i == "Object");
        return Ok(json_response(
            200,
            &table::table(&t.info, &[&obj.value], &rv, include),
        ));
    }
    Ok(object_response(t, 200, &obj))
}

struct Filter {
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn parse(t: &Target, params: &Params) -> ApiResult<Self> {
        Ok(Self {
            ns: t.ns.clone(),
            labels: LabelSelector::parse(
                params
                    .get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or(""),
            )?,
            fields: FieldSelector::parse(
                params
                    .get("fieldSelector")
                    .map(String::as_str)
                    .unwrap_or(""),
                &t.info.selectable_fields,
            )?,
        })
    }

    fn matches(&self, obj: &Stored) -> bool {
        self.ns.as_ref().is_none_or(|ns| *ns == obj.namespace) && self.selects(obj)
    }

    /// The selectors alone, for callers that already scoped by namespace.
    fn selects(&self, obj: &Stored) -> bool {
        (self.labels.is_empty() || self.labels.matches_with(|k| obj.label(k)))
            && (self.fields.is_empty() || self.fields.matches(&obj.value))
    }
}

/// Pre-joined items as the one item of a [`ListBody`] (none when the list is empty).
fn lone(joined: Bytes) -> Vec<Bytes> {
    if joined.is_empty() {
        Vec::new()
    } else {
        vec![joined]
    }
}

fn list(shared: &Shared, t: &Target, headers: &HeaderMap, params: &Params) -> ApiResult<Response> {
    let filter = Filter::parse(t, params)?;
    let limit: Option<usize> = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0);
    let gr = GroupResource::of(&t.info);
    // Continue token: "<list resourceVersion>:<namespace>:<name>" of the last item returned.
    let cont = params.get("continue").filter(|c| !c.is_empty());
    // Whole JSON lists may come from (and go to) the list cache; pages and tables do not.
    let cache_key = (cont.is_none() && limit.is_none() && !wants_table(headers)).then(|| {
        let param = |name: &str| params.get(name).cloned().unwrap_or_default();
        ListKey {
            gr: gr.clone(),
            namespace: t.ns.clone(),
            version: t.version.clone(),
            versions: t.info.versions.len(),
            label_selector: param("labelSelector"),
            field_selector: param("fieldSelector"),
        }
    });
    let (items, rv, cached) = {
        let inner = shared.store.lock();
        let (rv, after) = match cont {
            Some(c) => {
                let mut parts = c.splitn(3, ':');
                let rv: u64 = parts
                    .next()
                    .and_then(|r| r.parse().ok())
                    .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
                if rv < inner.compacted_rv {
                    return Err(ApiError::gone(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ));
                }
                let ns = parts.next().unwrap_or("").to_string();
                let name = parts.next().unwrap_or("").to_string();
                (rv, Some((ns, name)))
            }
            None => {
                if params
                    .get("resourceVersionMatch")
                    .is_some_and(|m| m == "Exact")
                    && let Some(want) = params.get("resourceVersion")
                    && want.parse::<u64>().ok() != Some(inner.rv)
                {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {want} ({})",
                        inner.rv
                    )));
                }
                (inner.rv, None)
            }
        };
        let changed_at = inner.changed_at.get(&gr).copied().unwrap_or(0);
        let cached = cache_key.as_ref().map_or(Lookup::Stream, |key| {
            shared.list_cache.lookup(key, changed_at)
        });
        // The namespace range already scopes the list; only selectors remain to check.
        let items = if matches!(cached, Lookup::Hit(_)) {
            Vec::new()
        } else {
            inner.list_where(&gr, t.ns.as_deref(), |s| {
                after
                    .as_ref()
                    .is_none_or(|(ans, aname)| (&s.namespace, &s.name) > (ans, aname))
                    && filter.selects(s)
            })
        };
        (items, rv, cached)
    };
    let (page, next) = match limit {
        Some(l) if items.len() > l => {
            let last = &items[l - 1];
            let token = format!(
                "{rv}:{}:{}",
                last.meta_str("namespace").unwrap_or(""),
                last.meta_str("name").unwrap_or("")
            );
            (&items[..l], Some((token, items.len() - l)))
        }
        _ => (&items[..], None),
    };
    if wants_table(headers) {
        let values: Vec<&Value> = page.iter().map(|s| &s.value).collect();
        let include = params.get("includeObject").is_some_and(|i| i == "Object");
        let mut tbl = table::table(&t.info, &values, &rv.to_string(), include);
        if let Some((token, _)) = &next {
            tbl["metadata"]["continue"] = json!(token);
        }
        return Ok(json_response(200, &tbl));
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some((token, remaining)) = &next {
        metadata["continue"] = json!(token);
        metadata["remainingItemCount"] = json!(remaining);
    }
    let head = format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        t.info.kind,
        t.info.api_version(&t.version),
        metadata
    );
    let items: Vec<Bytes> = match cached {
        Lookup::Hit(joined) => lone(joined),
        Lookup::Build(changed_at) => {
            let items: Vec<Bytes> = page.iter().map(|s| object_bytes(t, s)).collect();
            let joined = list_cache::join(&items);
            if let Some(key) = &cache_key {
                shared.list_cache.store(key, changed_at, joined.clone());
            }
            lone(joined)
        }
        Lookup::Stream => page.iter().map(|s| object_bytes(t, s)).collect(),
    };
    let body = ListBody::new(Bytes::from(head), items, b"]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(body),
    )
        .into_response())
}

fn create(
    shared: &Shared,
    t: &Target,
    headers: &HeaderMap,
    params: &Params,
    body: &Bytes,
) -> ApiResult<Response> {
    if t.name.is_some() {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "POST to a named object is not supported",
        ));
    }
    let obj = parse_json(body)?;
    let ctx = write_ctx(headers, params, "create");
    let stored = shared.store.lock().create(&t.info, t.ns(), obj, &ctx)?;
    Ok(object_response(t, 201, &stored))
}

fn update(
    shared: &Shared,
    t: &Target,
    headers: &HeaderMap,
    params: &Params,
    body: &Bytes,
) -> ApiResult<Response> {
    let obj = parse_json(body)?;
    let name = t.name.as_deref().unwrap_or("");
    let ctx = write_ctx(
        headers,
        params,
        if t.sub.is_some() {
            "update-status"
        } else {
            "update"
        },
    );
    let stored = shared
        .store
        .lock()
        .update(&t.info, t.ns(), name, obj, section(t), &ctx)?;
    Ok(object_response(t, 200, &stored))
}

fn patch(
    shared: &Shared,
    t: &Target,
    headers: &HeaderMap,
    params: &Params,
    body: &Bytes,
) -> ApiResult<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or("");
    let kind = PatchKind::from_content_type(ct).ok_or_else(|| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {ct}"),
        )
    })?;
    let name = t.name.as_deref().unwrap_or("");
    let force = params.get("force").is_some_and(|f| f == "true");
    let mut ctx = write_ctx(
        headers,
        params,
        if kind == PatchKind::Apply {
            "apply"
        } else {
            "patch"
        },
    );
    if kind == PatchKind::Apply && !params.contains_key("fieldManager") {
        ctx.manager = String::new();
    }
    let mut inner = shared.store.lock();
    let existed = inner.get(&t.info, t.ns(), name).is_ok();
    let stored = inner.patch(&t.info, t.ns(), name, kind, body, section(t), force, &ctx)?;
    drop(inner);
    Ok(object_response(t, if existed { 200 } else { 201 }, &stored))
}

fn delete_opts(params: &Params, body: &Bytes) -> ApiResult<DeleteOpts> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        parse_json(body)?
    };
    let policy = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| params.get("propagationPolicy").cloned());
    let orphan = body.get("orphanDependents").and_then(Value::as_bool) == Some(true)
        || params.get("orphanDependents").is_some_and(|o| o == "true");
    let propagation = match policy.as_deref() {
        Some("Orphan") => Propagation::Orphan,
        Some("Foreground") => Propagation::Foreground,
        _ if orphan => Propagation::Orphan,
        _ => Propagation::Background,
    };
    let pre = |k: &str| {
        body.pointer(&format!("/preconditions/{k}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(DeleteOpts {
        propagation,
        precondition_uid: pre("uid"),
        precondition_rv: pre("resourceVersion"),
    })
}

fn delete(shared: &Shared, t: &Target, params: &Params, body: &Bytes) -> ApiResult<Response> {
    let opts = delete_opts(params, body)?;
    let name = t.name.as_deref().unwrap_or("");
    let ctx = WriteCtx {
        manager: "kube-apiserver".into(),
        verb: "delete",
        dry_run: params.get("dryRun").is_some_and(|d| d == "All"),
    };
    let stored = shared
        .store
        .lock()
        .delete(&t.info, t.ns(), name, &opts, &ctx)?;
    Ok(object_response(t, 200, &stored))
}

fn delete_collection(
    shared: &Shared,
    t: &Target,
    params: &Params,
    body: &Bytes,
) -> ApiResult<Response> {
    let opts = delete_opts(params, body)?;
    let filter = Filter::parse(t, params)?;
    let ctx = WriteCtx {
        manager: "kube-apiserver".into(),
        verb: "delete",
        dry_run: false,
    };
    let mut inner = shared.store.lock();
    let victims: Vec<Arc<Stored>> = inner
        .list(&GroupResource::of(&t.info), t.ns.as_deref())
        .into_iter()
        .filter(|s| filter.matches(s))
        .collect();
    let mut deleted = Vec::new();
    for v in victims {
        let ns = v.meta_str("namespace").unwrap_or("").to_string();
        let name = v.meta_str("name").unwrap_or("").to_string();
        if let Ok(s) = inner.delete(&t.info, &ns, &name, &opts, &ctx) {
            deleted.push(s.value.clone());
        }
    }
    let rv = inner.rv;
    drop(inner);
    Ok(json_response(
        200,
        &json!({"kind": format!("{}List", t.info.kind), "apiVersion": t.info.api_version(&t.version),
                "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
    ))
}

fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// The event a filtered watch sees for a change, as the watch cache translates it.
fn filtered(change: &Change, filter: &Filter) -> Option<&'static str> {
    let now = filter.matches(&change.obj);
    match change.kind {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => now.then_some("DELETED"),
        EventType::Modified => {
            let before = change.prev.as_ref().is_some_and(|p| filter.matches(p));
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    }
}

fn watch(shared: Arc<Shared>, t: Target, params: &Params) -> Response {
    let filter = match Filter::parse(&t, params) {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let from: Option<u64> = match params.get("resourceVersion").filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => match r.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                return error_response(&ApiError::bad_request(format!(
                    "invalid resource version: {r}"
                )));
            }
        },
    };
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let initial_end_bookmark = params.get("sendInitialEvents").is_some_and(|b| b == "true");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let gr = GroupResource::of(&t.info);
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let (start, live, start_rv, mut dropped) = {
        let inner = shared.store.lock();
        match inner.watch_from(&gr, from) {
            Ok((start, live)) => (start, live, inner.rv, shared.store.drop_watches.subscribe()),
            Err(e) => {
                // A watch that cannot start answers 200 with one ERROR event, as the real server.
                let status = serde_json::to_vec(&e.status_body()).unwrap_or_default();
                return bytes_response(200, event_line("ERROR", &status));
            }
        }
    };
    let api_version = t.info.api_version(&t.version);
    let kind = t.info.kind.clone();
    let bookmark_every = shared.bookmark_interval;
    tokio::spawn(async move {
        let bookmark = |rv: u64, initial_end: bool| {
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if initial_end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            let obj = json!({"kind": kind, "apiVersion": api_version, "metadata": meta});
            event_line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
        };
        let mut last_rv = start_rv;
        match start {
            WatchStart::Initial(objs) => {
                for o in objs.iter().filter(|o| filter.matches(o)) {
                    if tx
                        .send(Ok(event_line("ADDED", &object_bytes(&t, o))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if initial_end_bookmark && tx.send(Ok(bookmark(start_rv, true))).await.is_err() {
                    return;
                }
            }
            WatchStart::Replay(changes) => {
                for c in &changes {
                    if let Some(ev) = filtered(c, &filter)
                        && tx
                            .send(Ok(event_line(ev, &object_bytes(&t, &c.obj))))
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let mut live = live;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            tokio::select! {
                msg = live.recv() => match msg {
                    Ok(c) => {
                        last_rv = c.rv;
                        if c.gr != gr {
                            continue;
                        }
                        if let Some(ev) = filtered(&c, &filter)
                            && tx.send(Ok(event_line(ev, &object_bytes(&t, &c.obj)))).await.is_err()
                        {
                            return;
                        }
                    }
                    // A watcher that fell behind the fan-out buffer is cut; the client re-watches
                    // from its last resourceVersion, exactly as after a real connection loss.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(Ok(bookmark(last_rv, false))).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = dropped.recv() => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn pod_log(shared: Arc<Shared>, t: Target, params: &Params) -> Response {
    let ns = t.ns().to_string();
    let name = t.name.clone().unwrap_or_default();
    let pod = match shared.store.lock().get(&t.info, &ns, &name) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let containers: Vec<String> = pod
        .value
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let container = match params.get("container") {
        Some(c) => c.clone(),
        None if containers.len() == 1 => containers[0].clone(),
        None if containers.is_empty() => String::new(),
        None => {
            return error_response(&ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    if !containers.is_empty() && !containers.contains(&container) {
        return error_response(&ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    let key: LogKey = (ns.clone(), name.clone(), container.clone());
    let previous = params.get("previous").is_some_and(|p| p == "true");
    let follow = params.get("follow").is_some_and(|f| f == "true") && !previous;
    let timestamps = params.get("timestamps").is_some_and(|t| t == "true");
    let tail: Option<usize> = params.get("tailLines").and_then(|t| t.parse().ok());
    let log = shared.logs.snapshot(&key).unwrap_or_default();
    let lines = if previous {
        match log.previous {
            Some(p) => p,
            None => {
                return error_response(&ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                )));
            }
        }
    } else {
        log.current
    };
    let render = move |(ts, line): &(String, String)| {
        if timestamps {
            format!("{ts} {line}\n")
        } else {
            format!("{line}\n")
        }
    };
    let since = params
        .get("sinceTime")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|| {
            let secs = params.get("sinceSeconds")?.parse::<i64>().ok()?;
            Some(chrono::Utc::now() - chrono::Duration::seconds(secs))
        });
    let recent = |(ts, _): &&(String, String)| {
        since.is_none_or(|s| chrono::DateTime::parse_from_rfc3339(ts).is_ok_and(|t| t >= s))
    };
    let selected: Vec<&(String, String)> = lines.iter().filter(recent).collect();
    let skip = tail.map(|n| selected.len().saturating_sub(n)).unwrap_or(0);
    let mut initial: String = selected[skip..].iter().map(|l| render(l)).collect();
    if !follow {
        if let Some(limit) = params
            .get("limitBytes")
            .and_then(|l| l.parse::<usize>().ok())
        {
            let mut cut = limit.min(initial.len());
            while !initial.is_char_boundary(cut) {
                cut -= 1;
            }
            initial.truncate(cut);
        }
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            initial,
        )
            .into_response();
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let mut version = shared.logs.version.subscribe();
    tokio::spawn(async move {
        let mut sent = lines.len();
        if tx.send(Ok(Bytes::from(initial))).await.is_err() {
            return;
        }
        loop {
            let log = shared.logs.snapshot(&key).unwrap_or_default();
            let fresh: String = log.current.iter().skip(sent).map(&render).collect();
            sent = log.current.len().max(sent);
            if !fresh.is_empty() && tx.send(Ok(Bytes::from(fresh))).await.is_err() {
                return;
            }
            let pod_gone = shared.store.lock().get(&t.info, &ns, &name).is_err();
            if log.finished || pod_gone {
                return;
            }
            // Wake on new lines; re-check pod existence periodically since deletion does not
            // touch the log buffers.
            tokio::select! {
                _ = version.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
