//! Following `<collection>_links` `rel: next` pages (Nova's servers, migrations, hypervisors;
//! Cinder's volumes). The next link's `marker` is re-applied to our own request rather than
//! following the link's URL, which behind a proxy often names an internal host (and would
//! carry the token there).

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Result;
use super::session::{Request, Response, Session};

/// A guard against a server that never stops paging.
const MAX_PAGES: usize = 10_000;

impl Session {
    /// GETs `req` and every next page; returns the items of the `key` array of all pages.
    pub fn list_all<T: DeserializeOwned>(&self, req: &Request, key: &str) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut req = req.clone();
        for _ in 0..MAX_PAGES {
            let resp = self.send(&req)?;
            let (page, marker) = parse_page::<T>(&resp, key)?;
            items.extend(page);
            let Some(marker) = marker else {
                return Ok(items);
            };
            if !seen.insert(marker.clone()) {
                return Err(resp.invalid(format!(
                    "the next link of `{key}` repeats marker {marker:?}"
                )));
            }
            req = req.query("marker", marker);
        }
        Err(super::Error::InvalidResponse {
            service: req.service().to_string(),
            method: "GET".into(),
            path: req.path().to_string(),
            detail: format!("more than {MAX_PAGES} pages of `{key}`"),
        })
    }
}

/// One page: the items, and the marker of the next page if there is one.
pub fn parse_page<T: DeserializeOwned>(
    resp: &Response,
    key: &str,
) -> Result<(Vec<T>, Option<String>)> {
    let doc: Value = resp.json()?;
    let list = match doc.get(key) {
        Some(Value::Array(list)) => list,
        Some(_) => return Err(resp.invalid(format!("`{key}` is not a list"))),
        None => return Err(resp.invalid(format!("no `{key}` in the answer"))),
    };
    let mut items = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        items.push(T::deserialize(v).map_err(|e| resp.invalid(format!("{key}[{i}]: {e}")))?);
    }
    let next = doc
        .get(format!("{key}_links"))
        .and_then(Value::as_array)
        .and_then(|links| {
            links
                .iter()
                .find(|l| l.get("rel").and_then(Value::as_str) == Some("next"))
        });
    let Some(next) = next else {
        return Ok((items, None));
    };
    let href = next
        .get("href")
        .and_then(Value::as_str)
        .ok_or_else(|| resp.invalid(format!("`{key}_links` next without href")))?;
    let marker = marker_of(href)
        .ok_or_else(|| resp.invalid(format!("`{key}_links` next link has no marker: {href}")))?;
    Ok((items, Some(marker)))
}

fn marker_of(href: &str) -> Option<String> {
    let base = reqwest::Url::parse("http://relative.invalid/").ok()?;
    let url = base.join(href).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "marker")
        .map(|(_, v)| v.into_owned())
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(
            marker_of("http://nova/v2.1/servers/detail?limit=2&marker=abc-1").as_deref(),
            Some("abc-1")
        );
        assert_eq!(
            marker_of("/v3/p/volumes/detail?marker=v%2F1").as_deref(),
            Some("v/1")
        );
        assert_eq!(marker_of("http://nova/v2.1/servers?limit=2"), None);
        assert_eq!(marker_of("::::"), None);
    }
}
