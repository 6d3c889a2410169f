//! Paging of list endpoints: `page` (from 1) and `page_size` (1..=200).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page, 1..=200 (default 20).
    pub page_size: Option<u32>,
}

pub const MAX_PAGE_SIZE: u32 = 200;

#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u32,
    pub page_size: u32,
}

impl Paging {
    pub fn from_query(page: Option<u32>, page_size: Option<u32>) -> Result<Self, ApiError> {
        let page = page.unwrap_or(1);
        let page_size = page_size.unwrap_or(20);
        if page == 0 || page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(ApiError::bad_request(
                "INVALID_QUERY",
                format!("page must be >= 1 and page_size 1..={MAX_PAGE_SIZE}"),
            ));
        }
        Ok(Self { page, page_size })
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.page_size)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.page_size)
    }

    pub fn wrap<T>(&self, items: Vec<T>, total: i64) -> Page<T> {
        let total_pages = (total + self.limit() - 1) / self.limit();
        Page {
            items,
            total,
            page: self.page,
            page_size: self.page_size,
            total_pages,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
    pub total_pages: i64,
}
