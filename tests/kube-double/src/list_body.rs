//! The body of a list response, streamed from the objects' stored JSON.
//!
//! A list of 5,000 pods is ~11 MB. Concatenating it into one buffer costs a fresh 11 MB
//! allocation (page faults, and glibc consolidating the freed block afterwards) plus a full copy
//! before the first byte is sent. Instead the body copies the pieces into 64 KiB chunks as the
//! connection asks for them — allocations small enough for the allocator to recycle — and
//! declares its exact length, so clients see an ordinary `Content-Length` response.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use bytes::BytesMut;
use http_body::{Body, Frame, SizeHint};

/// Chunk size: large enough that per-frame overhead is negligible, small enough to stay below
/// the allocator's mmap threshold.
const CHUNK: usize = 64 * 1024;

/// `head` + the items separated by commas + `tail`.
#[derive(Debug)]
pub struct ListBody {
    head: Bytes,
    items: Vec<Bytes>,
    next: usize,
    tail: Option<Bytes>,
    remaining: u64,
}

impl ListBody {
    pub fn new(head: Bytes, items: Vec<Bytes>, tail: &'static [u8]) -> Self {
        let commas = items.len().saturating_sub(1);
        let remaining =
            head.len() + items.iter().map(|i| i.len()).sum::<usize>() + commas + tail.len();
        Self {
            head,
            items,
            next: 0,
            tail: Some(Bytes::from_static(tail)),
            remaining: remaining as u64,
        }
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.head.is_empty() {
            return Some(std::mem::take(&mut self.head));
        }
        if self.items.len() == 1 && self.next == 0 {
            // A lone item (or a list cache's pre-joined items) goes out as it is, uncopied.
            self.next = 1;
            return Some(self.items[0].clone());
        }
        if self.next < self.items.len() {
            let mut buf = BytesMut::with_capacity(CHUNK);
            while self.next < self.items.len() {
                let item = &self.items[self.next];
                if !buf.is_empty() && buf.len() + item.len() + 1 > CHUNK {
                    break;
                }
                if self.next > 0 {
                    buf.extend_from_slice(b",");
                }
                buf.extend_from_slice(item);
                self.next += 1;
            }
            return Some(buf.freeze());
        }
        self.tail.take()
    }
}

impl Body for ListBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = self.next_chunk();
        if let Some(c) = &chunk {
            self.remaining -= c.len() as u64;
        }
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn collect(mut body: ListBody) -> Vec<u8> {
        let declared = body.size_hint().exact();
        let mut out = Vec::new();
        while let Some(chunk) = body.next_chunk() {
            out.extend_from_slice(&chunk);
        }
        assert_eq!(declared, Some(out.len() as u64), "declared length is exact");
        out
    }

    #[test]
    fn joins_items_with_commas_across_chunks() {
        let items: Vec<Bytes> = (0..5000)
            .map(|i| Bytes::from(format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 300))))
            .collect();
        let body = collect(ListBody::new(
            Bytes::from_static(b"{\"items\":["),
            items,
            b"]}",
        ));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 5000);
        assert_eq!(items[4999]["n"], 4999);
    }

    #[test]
    fn empty_and_single_lists() {
        let empty = collect(ListBody::new(Bytes::from_static(b"["), Vec::new(), b"]"));
        assert_eq!(empty, b"[]");
        let one = collect(ListBody::new(
            Bytes::from_static(b"["),
            vec![Bytes::from_static(b"1")],
            b"]",
        ));
        assert_eq!(one, b"[1]");
    }
}
