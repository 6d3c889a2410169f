//! The object store: every object as JSON (plus its serialized bytes, so lists are a memcpy),
//! one global resourceVersion counter, a bounded event history for watch replay (older
//! resourceVersions answer 410 Gone), and a broadcast channel that fans changes out to watches.
//!
//! All API semantics that must be atomic with a write (generation, no-op detection, finalizers,
//! field ownership, garbage collection) run under one mutex here; handlers in `server.rs` only
//! translate HTTP to these calls. Nothing here awaits while holding the lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::apply::{self, Section};
use crate::discovery::{self, ResourceInfo};
use crate::error::{ApiError, ApiResult};
use crate::gc;
use crate::patch::{self, PatchKind};

/// `(group, plural)`: objects are stored once per resource whatever version they are served at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
    pub fn of(info: &ResourceInfo) -> Self {
        Self::new(&info.group, &info.plural)
    }
}

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjectKey = (String, String);

/// A stored object: its JSON value, its serialized bytes (lists and watch events are built from
/// these without re-serializing), and the identity fields list filtering reads on every item.
#[derive(Debug)]
pub struct Stored {
    pub value: Value,
    pub bytes: Bytes,
    pub api_version: String,
    pub namespace: String,
    pub name: String,
    /// Labels as `key\0value\0key\0value…` in one allocation: selector matching over thousands
    /// of objects is bound by cache misses, and walking each object's JSON maps costs several.
    labels: String,
}

impl Stored {
    pub fn new(value: Value) -> Self {
        let bytes = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let meta = value.get("metadata");
        Self {
            api_version: s(value.get("apiVersion")),
            namespace: s(meta.and_then(|m| m.get("namespace"))),
            name: s(meta.and_then(|m| m.get("name"))),
            labels: meta
                .and_then(|m| m.get("labels"))
                .and_then(Value::as_object)
                .map(|l| {
                    l.iter()
                        .map(|(k, v)| format!("{k}\0{}\0", v.as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default(),
            value,
            bytes,
        }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        let mut parts = self.labels.split('\0');
        while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
            if k == key {
                return Some(v);
            }
        }
        None
    }
    pub fn meta_str(&self, field: &str) -> Option<&str> {
        self.value.get("metadata")?.get(field)?.as_str()
    }
    pub fn uid(&self) -> &str {
        self.meta_str("uid").unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub gr: GroupResource,
    pub kind: EventType,
    pub obj: Arc<Stored>,
    /// The state before this change; a watch with a selector needs it to turn "stopped matching"
    /// into DELETED and "started matching" into ADDED, as the watch cache does.
    pub prev: Option<Arc<Stored>>,
}

/// One effective write (a change that bumped the resourceVersion).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRecord {
    pub rv: u64,
    pub group: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub event: EventType,
    pub verb: &'static str,
    pub manager: String,
}

/// Who is writing and how; carried through every mutating call.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    pub manager: String,
    pub verb: &'static str,
    pub dry_run: bool,
}

impl WriteCtx {
    pub fn system(manager: &str, verb: &'static str) -> Self {
        Self {
            manager: manager.to_string(),
            verb,
            dry_run: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// Where a watch starts.
#[derive(Debug)]
pub enum WatchStart {
    /// Synthetic ADDED events for the current state (no or "0" resourceVersion).
    Initial(Vec<Arc<Stored>>),
    /// Events after the requested resourceVersion, from history.
    Replay(Vec<Arc<Change>>),
}

#[derive(Debug)]
pub struct Inner {
    pub rv: u64,
    pub resources: Vec<ResourceInfo>,
    pub objects: HashMap<GroupResource, BTreeMap<ObjectKey, Arc<Stored>>>,
    /// resourceVersion of each resource's last write (what a cached list body depends on).
    pub changed_at: HashMap<GroupResource, u64>,
    /// uid → where the object lives, for ownerReference lookups.
    pub uids: HashMap<String, (GroupResource, ObjectKey)>,
    history: VecDeque<Arc<Change>>,
    pub history_limit: usize,
    /// Events at or below this resourceVersion are gone from history.
    pub compacted_rv: u64,
    pub writes: Vec<WriteRecord>,
    /// Mutating requests that changed nothing, per (resource, namespace, name).
    pub noop_writes: HashMap<(String, String, String), u64>,
    tx: broadcast::Sender<Arc<Change>>,
}

#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    /// Fired to cut every open watch connection (fault injection).
    pub drop_watches: broadcast::Sender<()>,
}

pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(65_536);
        let inner = Inner {
            rv: 0,
            resources: discovery::builtin_resources(),
            objects: HashMap::new(),
            changed_at: HashMap::new(),
            uids: HashMap::new(),
            history: VecDeque::new(),
            history_limit,
            compacted_rv: 0,
            writes: Vec::new(),
            noop_writes: HashMap::new(),
            tx,
        };
        let store = Self {
            inner: Mutex::new(inner),
            drop_watches: broadcast::channel(4).0,
        };
        {
            let mut inner = store.lock();
            let ns = inner.info("", "v1", "namespaces").cloned();
            if let Some(ns) = ns {
                for name in SYSTEM_NAMESPACES {
                    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                    let _ =
                        inner.create(&ns, "", body, &WriteCtx::system("kube-apiserver", "create"));
                }
            }
        }
        store
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug in the double that the failing test already
        // reports; keep serving rather than cascading poison errors into unrelated requests.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn meta(v: &Value) -> Option<&serde_json::Map<String, Value>> {
    v.get("metadata")?.as_object()
}

fn meta_mut(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    match v.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("metadata was just made an object"),
    }
}

fn finalizers(v: &Value) -> Vec<String> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && !name.contains('.') && is_dns_subdomain(name)
}

pub(crate) fn random_suffix() -> String {
    // Same alphabet as the API server's generateName (no vowels, no confusable characters).
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The object without the fields a no-op write may legitimately differ in.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    v
}

/// Whether anything outside metadata (and outside status when status is a subresource) differs:
/// that, and only that, bumps `metadata.generation`.
fn spec_changed(info: &ResourceInfo, old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            if info.status_subresource {
                m.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

impl Inner {
    pub fn info(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources.iter().find(|r| {
            r.group == group && r.plural == plural && r.versions.iter().any(|v| v == version)
        })
    }

    pub fn info_by_gr(&self, gr: &GroupResource) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == gr.group && r.plural == gr.resource)
    }

    pub fn get(&self, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Arc<Stored>> {
        self.objects
            .get(&GroupResource::of(info))
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&qualified(info), name))
    }

    /// Objects of a resource, in one namespace or all, ordered by (namespace, name).
    pub fn list(&self, gr: &GroupResource, ns: Option<&str>) -> Vec<Arc<Stored>> {
        self.list_where(gr, ns, |_| true)
    }

    /// Like [`Inner::list`], filtering before taking references (cheaper for selective lists).
    pub fn list_where(
        &self,
        gr: &GroupResource,
        ns: Option<&str>,
        mut keep: impl FnMut(&Stored) -> bool,
    ) -> Vec<Arc<Stored>> {
        let Some(map) = self.objects.get(gr) else {
            return Vec::new();
        };
        match ns {
            // Names cannot contain NUL, so `ns\0` bounds the namespace without comparing
            // every key (each comparison is a cache miss on a large list).
            Some(ns) => map
                .range((ns.to_string(), String::new())..(format!("{ns}\0"), String::new()))
                .filter(|(_, v)| keep(v))
                .map(|(_, v)| v.clone())
                .collect(),
            None => map.values().filter(|v| keep(v)).cloned().collect(),
        }
    }

    /// Starts a watch atomically with respect to writes: the replayed part and the live receiver
    /// neither overlap nor leave a gap.
    pub fn watch_from(
        &self,
        gr: &GroupResource,
        rv: Option<u64>,
    ) -> ApiResult<(WatchStart, broadcast::Receiver<Arc<Change>>)> {
        let rx = self.tx.subscribe();
        match rv {
            None | Some(0) => Ok((WatchStart::Initial(self.list(gr, None)), rx)),
            Some(rv) if rv < self.compacted_rv => Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                self.compacted_rv + 1
            ))),
            Some(rv) => {
                let replay = self
                    .history
                    .iter()
                    .filter(|c| c.rv > rv && &c.gr == gr)
                    .cloned()
                    .collect();
                Ok((WatchStart::Replay(replay), rx))
            }
        }
    }

    /// Drops all history: any watch from an older resourceVersion now gets 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    fn commit(
        &mut self,
        info: &ResourceInfo,
        key: ObjectKey,
        kind: EventType,
        mut value: Value,
        prev: Option<Arc<Stored>>,
        ctx: &WriteCtx,
    ) -> Arc<Stored> {
        if ctx.dry_run {
            return Arc::new(Stored::new(value));
        }
        self.rv += 1;
        let rv = self.rv;
        meta_mut(&mut value).insert("resourceVersion".into(), json!(rv.to_string()));
        let stored = Arc::new(Stored::new(value));
        let gr = GroupResource::of(info);
        self.changed_at.insert(gr.clone(), rv);
        let map = self.objects.entry(gr.clone()).or_default();
        let uid = stored.uid().to_string();
        if kind == EventType::Deleted {
            map.remove(&key);
            self.uids.remove(&uid);
        } else {
            map.insert(key.clone(), stored.clone());
            self.uids.insert(uid, (gr.clone(), key.clone()));
        }
        self.writes.push(WriteRecord {
            rv,
            group: gr.group.clone(),
            resource: gr.resource.clone(),
            namespace: key.0,
            name: key.1,
            event: kind,
            verb: ctx.verb,
            manager: ctx.manager.clone(),
        });
        let change = Arc::new(Change {
            rv,
            gr,
            kind,
            obj: stored.clone(),
            prev,
        });
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(change);
        stored
    }

    fn namespace_check(&self, info: &ResourceInfo, ns: &str) -> ApiResult<()> {
        if !info.namespaced {
            return Ok(());
        }
        let nsobj = self
            .objects
            .get(&GroupResource::new("", "namespaces"))
            .and_then(|m| m.get(&(String::new(), ns.to_string())))
            .ok_or_else(|| ApiError::not_found("namespaces", ns))?;
        if nsobj.meta_str("deletionTimestamp").is_some() {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            ));
        }
        Ok(())
    }

    /// Validates and fills server-owned metadata of an object about to be created.
    fn prepare_create(
        &self,
        info: &ResourceInfo,
        ns: &str,
        body: Value,
    ) -> ApiResult<(Value, ObjectKey)> {
        let mut obj = body;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not a JSON object",
            ));
        }
        if let Some(kind) = obj.get("kind").and_then(Value::as_str)
            && kind != info.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind {kind} does not match the resource {} ({})",
                info.plural, info.kind
            )));
        }
        obj["kind"] = json!(info.kind);
        if obj.get("apiVersion").and_then(Value::as_str).is_none() {
            obj["apiVersion"] = json!(info.api_version(&info.versions[0]));
        }
        fold_string_data(info, &mut obj);
        let m = meta_mut(&mut obj);
        let mut name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            match m.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => name = format!("{prefix}{}", random_suffix()),
                _ => {
                    return Err(ApiError::invalid(
                        &info.kind,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            }
            m.insert("name".into(), json!(name));
        }
        let valid = if info.plural == "namespaces" {
            is_dns_label(&name)
        } else {
            is_dns_subdomain(&name)
        };
        if !valid {
            return Err(ApiError::invalid(
                &info.kind,
                &name,
                format!(
                    "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
                ),
            ));
        }
        if info.namespaced {
            if let Some(body_ns) = m.get("namespace").and_then(Value::as_str)
                && !body_ns.is_empty()
                && body_ns != ns
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        for server_owned in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(server_owned);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(apply::now_rfc3339()));
        if info.has_generation {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
        if info.status_subresource
            && let Some(o) = obj.as_object_mut()
        {
            o.remove("status");
        }
        match (info.group.as_str(), info.plural.as_str()) {
            ("", "pods") => obj["status"] = json!({"phase": "Pending"}),
            ("", "namespaces") => obj["status"] = json!({"phase": "Active"}),
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let crd_info = discovery::from_crd(&obj).ok_or_else(|| {
                    ApiError::invalid(
                        &info.kind,
                        &name,
                        "spec: invalid CustomResourceDefinition spec",
                    )
                })?;
                let want = format!("{}.{}", crd_info.plural, crd_info.group);
                if name != want {
                    return Err(ApiError::invalid(
                        &info.kind,
                        &name,
                        format!(
                            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                        ),
                    ));
                }
                obj["status"] = crd_status(&obj);
            }
            _ => {}
        }
        let key = (
            if info.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name,
        );
        if self
            .objects
            .get(&GroupResource::of(info))
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(&qualified(info), &key.1));
        }
        self.namespace_check(info, ns)?;
        Ok((obj, key))
    }

    pub fn create(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        body: Value,
        ctx: &WriteCtx,
    ) -> ApiResult<Arc<Stored>> {
        let (mut obj, key) = self.prepare_create(info, ns, body)?;
        let section = Section::Main {
            has_status_subresource: info.status_subresource,
        };
        apply::track_update(None, &mut obj, &ctx.manager, section, info.builtin);
        Ok(self.finish_create(info, key, obj, ctx))
    }

    fn finish_create(
        &mut self,
        info: &ResourceInfo,
        key: ObjectKey,
        obj: Value,
        ctx: &WriteCtx,
    ) -> Arc<Stored> {
        let stored = self.commit(info, key, EventType::Added, obj, None, ctx);
        if !ctx.dry_run {
            self.after_crd_change(info, &stored.value);
            self.collect_if_ownerless(&stored);
        }
        stored
    }

    /// The garbage collector also deletes a dependent written with owner references whose
    /// owners are all gone (or never existed), e.g. a child re-created by a controller that had
    /// not yet seen its owner's deletion. The writer still gets its answer; watchers then see
    /// the deletion.
    fn collect_if_ownerless(&mut self, stored: &Stored) {
        if gc::owners_all_gone(self, &stored.value) {
            gc::collect(self);
        }
    }

    /// Keeps discovery in step with CRD objects.
    fn after_crd_change(&mut self, info: &ResourceInfo, crd: &Value) {
        if info.group != "apiextensions.k8s.io" || info.plural != "customresourcedefinitions" {
            return;
        }
        if let Some(new) = discovery::from_crd(crd) {
            self.resources
                .retain(|r| !(r.group == new.group && r.plural == new.plural));
            self.resources.push(new);
        }
    }

    pub fn update(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        body: Value,
        section: Section,
        ctx: &WriteCtx,
    ) -> ApiResult<Arc<Stored>> {
        let old = self.get(info, ns, name)?;
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not a JSON object",
            ));
        }
        if let Some(body_name) = body.pointer("/metadata/name").and_then(Value::as_str)
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        match body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            Some(rv) if !rv.is_empty() && Some(rv) != old.meta_str("resourceVersion") => {
                return Err(ApiError::conflict(
                    &qualified(info),
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
            Some(rv) if !rv.is_empty() => {}
            _ if !info.builtin => {
                return Err(ApiError::invalid(
                    &info.kind,
                    name,
                    "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                ));
            }
            _ => {}
        }
        let new = prepare_update(info, &old.value, body, section)?;
        self.finish_update(info, old, new, section, ctx, true)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        section: Section,
        force: bool,
        ctx: &WriteCtx,
    ) -> ApiResult<Arc<Stored>> {
        if kind == PatchKind::Apply {
            return self.apply(info, ns, name, body, section, force, ctx);
        }
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid patch body: {e}")))?;
        let old = self.get(info, ns, name)?;
        let mut new = old.value.clone();
        match kind {
            PatchKind::Merge => patch::merge_patch(&mut new, &patch),
            PatchKind::Json => patch::json_patch(&mut new, &patch)?,
            PatchKind::Strategic if info.builtin => patch::strategic_merge_patch(&mut new, &patch)?,
            PatchKind::Strategic => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            PatchKind::Apply => unreachable!("handled above"),
        }
        if new.pointer("/metadata/resourceVersion")
            != old.value.pointer("/metadata/resourceVersion")
        {
            return Err(ApiError::conflict(
                &qualified(info),
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let new = prepare_update(info, &old.value, new, section)?;
        self.finish_update(info, old, new, section, ctx, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        body: &[u8],
        section: Section,
        force: bool,
        ctx: &WriteCtx,
    ) -> ApiResult<Arc<Stored>> {
        if ctx.manager.is_empty() {
            return Err(ApiError::invalid(
                "PatchOptions",
                "",
                "fieldManager: Required value: is required for apply patch",
            ));
        }
        let applied: Value = yaml_serde::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        if !applied.is_object()
            || applied.get("apiVersion").is_none()
            || applied.get("kind").is_none()
        {
            return Err(ApiError::bad_request(
                "apply patch must be an object with apiVersion and kind",
            ));
        }
        if applied
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_some_and(|n| n != name)
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object does not match the name on the URL ({name})"
            )));
        }
        match self.get(info, ns, name) {
            Err(e) if section == Section::Status => Err(e),
            Err(_) => {
                // Apply creates the object when it does not exist.
                let skeleton = json!({
                    "apiVersion": applied["apiVersion"], "kind": applied["kind"],
                    "metadata": {"name": name}
                });
                let mut obj = apply::server_side_apply(
                    &skeleton,
                    &applied,
                    &ctx.manager,
                    force,
                    section,
                    info.builtin,
                )?;
                let mf = obj.pointer("/metadata/managedFields").cloned();
                meta_mut(&mut obj).remove("managedFields");
                let (mut obj, key) = self.prepare_create(info, ns, obj)?;
                if let Some(mf) = mf {
                    meta_mut(&mut obj).insert("managedFields".into(), mf);
                }
                Ok(self.finish_create(info, key, obj, ctx))
            }
            Ok(old) => {
                let new = apply::server_side_apply(
                    &old.value,
                    &applied,
                    &ctx.manager,
                    force,
                    section,
                    info.builtin,
                )?;
                if let Some(rv) = applied
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    && Some(rv) != old.meta_str("resourceVersion")
                {
                    return Err(ApiError::conflict(
                        &qualified(info),
                        name,
                        "the object has been modified; please apply your changes to the latest version and try again",
                    ));
                }
                let new = prepare_update(info, &old.value, new, section)?;
                self.finish_update(info, old, new, section, ctx, false)
            }
        }
    }

    /// The common tail of update, patch and apply: immutability, finalizer rules, generation,
    /// no-op detection, and deletion once the last finalizer is gone.
    fn finish_update(
        &mut self,
        info: &ResourceInfo,
        old: Arc<Stored>,
        mut new: Value,
        section: Section,
        ctx: &WriteCtx,
        track: bool,
    ) -> ApiResult<Arc<Stored>> {
        let name = old.meta_str("name").unwrap_or("").to_string();
        check_immutable(info, &name, &old.value, &new)?;
        let being_deleted = old.meta_str("deletionTimestamp").is_some();
        if being_deleted {
            let before = finalizers(&old.value);
            if finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::new(
                    422,
                    "Forbidden",
                    format!(
                        "{} \"{name}\" is forbidden: no new finalizers can be added if the object is being deleted",
                        info.kind
                    ),
                ));
            }
        }
        if track {
            apply::track_update(
                Some(&old.value),
                &mut new,
                &ctx.manager,
                section,
                info.builtin,
            );
        }
        if info.has_generation && spec_changed(info, &old.value, &new) {
            let generation = old
                .value
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
        if comparable(&old.value) == comparable(&new) {
            let key = (
                info.plural.clone(),
                old.meta_str("namespace").unwrap_or("").to_string(),
                name,
            );
            *self.noop_writes.entry(key).or_default() += 1;
            return Ok(old);
        }
        let key = (old.meta_str("namespace").unwrap_or("").to_string(), name);
        if being_deleted && finalizers(&new).is_empty() {
            let gone = self.commit(info, key, EventType::Deleted, new, Some(old), ctx);
            if !ctx.dry_run {
                gc::collect(self);
            }
            return Ok(gone);
        }
        let stored = self.commit(info, key, EventType::Modified, new, Some(old), ctx);
        if !ctx.dry_run {
            self.after_crd_change(info, &stored.value);
            self.collect_if_ownerless(&stored);
        }
        Ok(stored)
    }

    pub fn delete(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
        ctx: &WriteCtx,
    ) -> ApiResult<Arc<Stored>> {
        let result = self.delete_one(info, ns, name, opts, ctx)?;
        if !ctx.dry_run {
            gc::collect(self);
        }
        Ok(result)
    }

    /// One deletion without the garbage-collection sweep (which calls back into this).
    pub(crate) fn delete_one(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
        ctx: &WriteCtx,
    ) -> ApiResult<Arc<Stored>> {
        let old = self.get(info, ns, name)?;
        if let Some(uid) = &opts.precondition_uid
            && uid != old.uid()
        {
            return Err(ApiError::conflict(
                &qualified(info),
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old.uid()
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && Some(rv.as_str()) != old.meta_str("resourceVersion")
        {
            return Err(ApiError::conflict(
                &qualified(info),
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        if opts.propagation == Propagation::Orphan && !ctx.dry_run {
            gc::orphan_dependents(self, old.uid());
        }
        let key = (
            old.meta_str("namespace").unwrap_or("").to_string(),
            name.to_string(),
        );
        let has_contents = gc::has_contents(self, info, &old.value);
        let foreground =
            opts.propagation == Propagation::Foreground && gc::has_dependents(self, old.uid());
        if !finalizers(&old.value).is_empty() || has_contents || foreground {
            if old.meta_str("deletionTimestamp").is_some() {
                return Ok(old);
            }
            let mut new = old.value.clone();
            if foreground {
                // The owner stays, visibly deleting, until its dependents are gone (gc.rs).
                let mut f = finalizers(&new);
                f.push(gc::FOREGROUND.to_string());
                meta_mut(&mut new).insert("finalizers".into(), json!(f));
            }
            let m = meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(apply::now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if info.has_generation {
                let generation = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
                m.insert("generation".into(), json!(generation + 1));
            }
            if info.plural == "namespaces" && info.group.is_empty() {
                new["status"] = json!({"phase": "Terminating"});
            }
            let stored = self.commit(info, key, EventType::Modified, new, Some(old), ctx);
            if has_contents && !ctx.dry_run {
                gc::delete_contents(self, info, &stored.value);
            }
            if foreground && !ctx.dry_run {
                gc::delete_dependents(self, stored.uid());
            }
            return Ok(stored);
        }
        let value = old.value.clone();
        let gone = self.commit(info, key, EventType::Deleted, value, Some(old), ctx);
        if !ctx.dry_run
            && info.group == "apiextensions.k8s.io"
            && info.plural == "customresourcedefinitions"
            && let Some(crd) = discovery::from_crd(&gone.value)
        {
            self.unregister(&crd.group, &crd.plural);
        }
        Ok(gone)
    }

    /// Replaces an object's stored state as a controller would (test helpers, GC): no
    /// ownership tracking, but generation, no-op detection and events as for any write.
    pub(crate) fn system_write(
        &mut self,
        gr: &GroupResource,
        key: &ObjectKey,
        new: Value,
        section: Section,
        manager: &str,
    ) -> ApiResult<Arc<Stored>> {
        let info = self
            .info_by_gr(gr)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&gr.resource, &key.1))?;
        let old = self.get(&info, &key.0, &key.1)?;
        let verb = if section == Section::Status {
            "update-status"
        } else {
            "update"
        };
        self.finish_update(
            &info,
            old,
            new,
            section,
            &WriteCtx::system(manager, verb),
            true,
        )
    }

    /// Drops a resource from discovery once its CRD is gone.
    pub(crate) fn unregister(&mut self, group: &str, plural: &str) {
        self.resources
            .retain(|r| r.builtin || !(r.group == group && r.plural == plural));
    }
}

/// Builds the new state for a write to the main resource or to `/status`, keeping fields the
/// client cannot change (server-owned metadata; status or spec depending on the section).
/// `managedFields` is left as computed by the caller (apply) or recomputed from the old object
/// (every other write, in `finish_update`).
fn prepare_update(
    info: &ResourceInfo,
    old: &Value,
    body: Value,
    section: Section,
) -> ApiResult<Value> {
    let mut new = match section {
        Section::Main { .. } => {
            let mut new = body;
            if info.status_subresource {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            new
        }
        Section::Status => {
            let mut new = old.clone();
            match body.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            new
        }
    };
    let name = old
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(uid) = new.pointer("/metadata/uid").and_then(Value::as_str)
        && !uid.is_empty()
        && Some(uid) != old.pointer("/metadata/uid").and_then(Value::as_str)
    {
        return Err(ApiError::conflict(
            &qualified(info),
            name,
            "Precondition failed: UID in precondition does not match",
        ));
    }
    new["apiVersion"] = old["apiVersion"].clone();
    new["kind"] = old["kind"].clone();
    let old_meta = meta(old).cloned().unwrap_or_default();
    let m = meta_mut(&mut new);
    for keep in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
    ] {
        match old_meta.get(keep) {
            Some(v) => m.insert(keep.into(), v.clone()),
            None => m.remove(keep),
        };
    }
    fold_string_data(info, &mut new);
    Ok(new)
}

/// A Secret's `stringData` is write-only: the API server merges it into `data` (base64), a
/// `stringData` key winning over the same key of `data`, and never stores `stringData` itself.
fn fold_string_data(info: &ResourceInfo, obj: &mut Value) {
    use base64::Engine;
    if (info.group.as_str(), info.plural.as_str()) != ("", "secrets") {
        return;
    }
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = o.remove("stringData") else {
        return;
    };
    let data = o.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in strings {
            if let Some(text) = v.as_str() {
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                data.insert(k, json!(encoded));
            }
        }
    }
}

fn check_immutable(info: &ResourceInfo, name: &str, old: &Value, new: &Value) -> ApiResult<()> {
    let immutable = |path: &str, why: &str| -> ApiResult<()> {
        if old.pointer(path) != new.pointer(path) {
            return Err(ApiError::invalid(
                &info.kind,
                name,
                format!("{}: Invalid value: {why}", &path[1..].replace('/', ".")),
            ));
        }
        Ok(())
    };
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "configmaps" | "secrets") if old.get("immutable") == Some(&json!(true)) => {
            for f in ["/data", "/binaryData", "/immutable"] {
                immutable(f, "field is immutable when `immutable` is set")?;
            }
        }
        ("apps", "deployments" | "statefulsets" | "replicasets" | "daemonsets")
        | ("batch", "jobs") => {
            immutable("/spec/selector", "field is immutable")?;
        }
        ("", "services") if old.pointer("/spec/clusterIP").is_some() => {
            immutable("/spec/clusterIP", "field is immutable")?;
        }
        _ => {}
    }
    Ok(())
}

/// What the apiextensions controller would report for an accepted CRD.
fn crd_status(crd: &Value) -> Value {
    let now = apply::now_rfc3339();
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).map(|vs| vs.iter()
            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .filter_map(|v| v.get("name").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    })
}

pub fn qualified(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.clone()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}
