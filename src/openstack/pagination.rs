//! Following `<collection>_links` `rel: next` pages (Nova's servers, migrations, hypervisors;
//! Cinder's volumes). The next link's `marker` is re-applied to our own request rather than
//! following the link's URL, which behind a proxy often names an internal host (and would
//! carry the token there).

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

use super::Result;
use super::session::{Request, Response, Session};
use crate::http;

/// A guard against a server that never stops paging.
const MAX_PAGES: usize = 10_000;

impl Session {
    /// GETs `req` and every next page; returns the items of the `key` array of all pages. Each
    /// page is parsed as it arrives: its items straight into `T`, never the whole answer held.
    pub fn list_all<T: DeserializeOwned + Send + 'static>(
        &self,
        req: &Request,
        key: &str,
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut req = req.clone();
        for _ in 0..MAX_PAGES {
            let seed = PageSeed::<T> {
                key: key.to_string(),
                item: PhantomData,
            };
            let (resp, page) = self.send_reading(&req, http::Streamed::new(seed))?.value();
            let (page, marker) = page_items(&resp, key, page?)?;
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

/// One page as parsed: the `key` array (`Err` when it is there but not an array) and the
/// `<key>_links` (small: left as JSON).
pub struct Page<T> {
    items: Option<std::result::Result<Vec<T>, NotAList>>,
    links: Option<Value>,
}

/// The collection is there, but not an array.
pub struct NotAList;

/// A page's items and the marker of the next page; an error about `resp` when the page has no
/// `key` array or its next link no marker.
fn page_items<T, B>(
    resp: &Response<B>,
    key: &str,
    page: Page<T>,
) -> Result<(Vec<T>, Option<String>)> {
    let items = match page.items {
        Some(Ok(items)) => items,
        Some(Err(NotAList)) => return Err(resp.invalid(format!("`{key}` is not a list"))),
        None => return Err(resp.invalid(format!("no `{key}` in the answer"))),
    };
    let next = page
        .links
        .as_ref()
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

/// Parses a page: the `key` array's items into `T` one by one, `<key>_links` as JSON, every
/// other member skipped.
pub struct PageSeed<T> {
    key: String,
    item: PhantomData<T>,
}

impl<T> Clone for PageSeed<T> {
    fn clone(&self) -> Self {
        PageSeed {
            key: self.key.clone(),
            item: PhantomData,
        }
    }
}

/// Whatever is not the one shape a visitor wants: taken, and `$none` returned.
macro_rules! anything_else {
    ($none:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
    };
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for PageSeed<T> {
    type Value = Page<T>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Page<T>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for PageSeed<T> {
    type Value = Page<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with `{}`", self.key)
    }

    anything_else!(Page {
        items: None,
        links: None
    });

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Page<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Page {
            items: None,
            links: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Page<T>, A::Error> {
        let links_key = format!("{}_links", self.key);
        let mut page = Page {
            items: None,
            links: None,
        };
        while let Some(k) = map.next_key::<String>()? {
            if k == self.key {
                page.items = Some(map.next_value_seed(Items::<T> {
                    key: &self.key,
                    item: PhantomData,
                })?);
            } else if k == links_key {
                page.links = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(page)
    }
}

/// The collection's array, each item straight into `T`.
struct Items<'k, T> {
    key: &'k str,
    item: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Items<'_, T> {
    type Value = std::result::Result<Vec<T>, NotAList>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Items<'_, T> {
    type Value = std::result::Result<Vec<T>, NotAList>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the `{}` array", self.key)
    }

    anything_else!(Err(NotAList));

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(NotAList))
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            match seq.next_element::<T>() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Ok(items)),
                // Which item: serde's complaint without its position (the parser adds the
                // position of the whole error once).
                Err(e) => {
                    let i = items.len();
                    return Err(de::Error::custom(format!(
                        "{}[{i}]: {}",
                        self.key,
                        without_position(&e.to_string())
                    )));
                }
            }
        }
    }
}

/// serde_json's message without its trailing ` at line L column C`.
fn without_position(message: &str) -> &str {
    let Some(at) = message.rfind(" at line ") else {
        return message;
    };
    let rest = &message[at + " at line ".len()..];
    let well_formed = rest.split_once(" column ").is_some_and(|(line, column)| {
        [line, column]
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    if well_formed { &message[..at] } else { message }
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

    #[derive(Debug, serde::Deserialize)]
    struct S {
        id: String,
    }

    fn page(body: &str) -> std::result::Result<(Vec<String>, Option<String>), String> {
        let seed = PageSeed::<S> {
            key: "servers".into(),
            item: PhantomData,
        };
        let mut de = serde_json::Deserializer::from_slice(body.as_bytes());
        let page = seed
            .deserialize(&mut de)
            .and_then(|p| de.end().map(|()| p))
            .map_err(|e| e.to_string())?;
        let items = match page.items {
            Some(Ok(items)) => items.into_iter().map(|s| s.id).collect(),
            Some(Err(NotAList)) => return Err("not a list".into()),
            None => return Err("no key".into()),
        };
        let next = page.links.and_then(|l| {
            l.pointer("/0/href")
                .and_then(Value::as_str)
                .map(String::from)
        });
        Ok((items, next))
    }

    #[test]
    fn pages_are_parsed_item_by_item() {
        let (items, next) = page(
            r#"{"servers": [{"id": "a", "x": [1, {"y": null}]}, {"id": "b"}],
                "other": {"servers": 3},
                "servers_links": [{"rel": "next", "href": "/servers?marker=b"}]}"#,
        )
        .unwrap();
        assert_eq!(items, ["a", "b"]);
        assert_eq!(next.as_deref(), Some("/servers?marker=b"));
        assert_eq!(page(r#"{"servers": []}"#).unwrap(), (vec![], None));
        for body in [
            r#"{"servers": "x"}"#,
            r#"{"servers": null}"#,
            r#"{"servers": {"a": [1]}}"#,
        ] {
            assert_eq!(page(body).unwrap_err(), "not a list", "{body}");
        }
        for body in ["[]", "[1, [2]]", "null", "3", r#"{"volumes": []}"#] {
            assert_eq!(page(body).unwrap_err(), "no key", "{body}");
        }
        // The item that is not a `T` is named once, with one position.
        let e = page(r#"{"servers": [{"id": "a"}, {"name": "b"}]}"#).unwrap_err();
        assert!(
            e.starts_with("servers[1]: missing field `id` at line 1 column "),
            "{e}"
        );
        assert_eq!(e.matches(" at line ").count(), 1, "{e}");
        // Torn or not JSON: serde's complaint.
        assert!(
            page(r#"{"servers": [{"id": "a"}"#)
                .unwrap_err()
                .contains("EOF")
        );
        assert!(
            page(r#"{"servers": []} x"#)
                .unwrap_err()
                .contains("trailing")
        );
    }

    #[test]
    fn positions_are_taken_off_serde_messages() {
        assert_eq!(
            without_position("missing field `id` at line 1 column 30"),
            "missing field `id`"
        );
        assert_eq!(
            without_position("expected `,` at line 12 column 3"),
            "expected `,`"
        );
        assert_eq!(
            without_position("a message at line one"),
            "a message at line one"
        );
        assert_eq!(without_position("no position"), "no position");
    }

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
