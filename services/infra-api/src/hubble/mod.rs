//! Hubble Relay: the minimal Observer protos, the client with its reachability probe, and the
//! pure mappings (query → `FlowFilter`s, `Flow` → row, rows → service map).

pub mod client;
pub mod map;
pub mod observe;
pub mod proto;
pub mod query;
pub mod row;

pub use client::{Hubble, HubbleError, HubbleOptions, HubbleStatus};
