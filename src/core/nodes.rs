//! Nova host names vs Consul node names.
//!
//! Nova names a compute host by its `host` (often the FQDN, `node-14.eayun.com`); Consul
//! names its agent's node by the machine's hostname (often the short name, `node-14`). A
//! host's Consul node is, in order:
//!
//! 1. `consul_node` of `[hosts."NAME"]` in the configuration, when set (it always wins);
//! 2. a node with exactly the host's name (ignoring ASCII case: DNS names have none);
//! 3. the one node whose short name (before the first dot) is the host's short name.
//!    Two candidates are ambiguous and match nothing: guessing would attach a host's
//!    verdict to another machine.

use std::collections::HashMap;

/// The part before the first dot.
pub fn short_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// How a host's node was found (for messages and JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeMatch {
    /// `consul_node` in the configuration.
    Configured,
    Exact,
    ShortName,
}

/// The Consul node of a Nova host among `nodes`, and how it was found. An explicit
/// `consul_node` is returned as is, whether or not `nodes` has it (a missing member is the
/// caller's "not a member", not a reason to guess).
pub fn consul_node_for<'a>(
    host: &'a str,
    explicit: Option<&'a str>,
    nodes: &[&'a str],
) -> Option<(&'a str, NodeMatch)> {
    if let Some(n) = explicit {
        return Some((n, NodeMatch::Configured));
    }
    if let Some(n) = nodes.iter().find(|n| n.eq_ignore_ascii_case(host)) {
        return Some((n, NodeMatch::Exact));
    }
    let short = short_name(host);
    let mut candidates = nodes
        .iter()
        .filter(|n| short_name(n).eq_ignore_ascii_case(short));
    match (candidates.next(), candidates.next()) {
        (Some(n), None) => Some((n, NodeMatch::ShortName)),
        _ => None,
    }
}

/// The Nova host a Consul node belongs to, among `hosts` (name, explicit `consul_node`): the
/// reverse of [`consul_node_for`], by the same rules.
pub fn host_for_node<'a>(node: &str, hosts: &[(&'a str, Option<&'a str>)]) -> Option<&'a str> {
    if let Some((h, _)) = hosts
        .iter()
        .find(|(_, explicit)| explicit.is_some_and(|e| e.eq_ignore_ascii_case(node)))
    {
        return Some(h);
    }
    let unclaimed: Vec<&(&str, Option<&str>)> = hosts
        .iter()
        .filter(|(_, explicit)| explicit.is_none())
        .collect();
    if let Some((h, _)) = unclaimed.iter().find(|(h, _)| h.eq_ignore_ascii_case(node)) {
        return Some(h);
    }
    let short = short_name(node);
    let mut candidates = unclaimed
        .iter()
        .filter(|(h, _)| short_name(h).eq_ignore_ascii_case(short));
    match (candidates.next(), candidates.next()) {
        (Some((h, _)), None) => Some(h),
        _ => None,
    }
}

/// The node names of one cluster, indexed once so that matching every host is O(1) per host
/// (by the rules of [`consul_node_for`], with the same answers).
#[derive(Debug, Clone, Default)]
pub struct NodeIndex {
    /// Sorted, without duplicates.
    names: Vec<String>,
    /// ASCII-lowercased name -> the first of `names` equal to it ignoring case.
    exact: HashMap<String, usize>,
    /// ASCII-lowercased short name -> the first of `names` with it, and how many have it.
    short: HashMap<String, (usize, usize)>,
}

impl NodeIndex {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> NodeIndex {
        let mut names: Vec<String> = names.into_iter().map(str::to_string).collect();
        names.sort_unstable();
        names.dedup();
        let mut exact = HashMap::with_capacity(names.len());
        let mut short: HashMap<String, (usize, usize)> = HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            exact.entry(n.to_ascii_lowercase()).or_insert(i);
            short
                .entry(short_name(n).to_ascii_lowercase())
                .and_modify(|(_, count)| *count += 1)
                .or_insert((i, 1));
        }
        NodeIndex {
            names,
            exact,
            short,
        }
    }

    /// The names, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// [`consul_node_for`] over these names.
    pub fn node_for<'a>(
        &'a self,
        host: &str,
        explicit: Option<&'a str>,
    ) -> Option<(&'a str, NodeMatch)> {
        if let Some(n) = explicit {
            return Some((n, NodeMatch::Configured));
        }
        if let Some(&i) = self.exact.get(&host.to_ascii_lowercase()) {
            return Some((&self.names[i], NodeMatch::Exact));
        }
        match self.short.get(&short_name(host).to_ascii_lowercase()) {
            Some(&(i, 1)) => Some((&self.names[i], NodeMatch::ShortName)),
            _ => None,
        }
    }
}

/// Nova hosts (name, explicit `consul_node`), indexed once: [`host_for_node`] in O(1) per node.
#[derive(Debug, Clone, Default)]
pub struct HostIndex<'a> {
    /// Lowercased explicit node -> the first host naming it.
    explicit: HashMap<String, &'a str>,
    /// Hosts without an explicit node, by lowercased name (the first).
    unclaimed: HashMap<String, &'a str>,
    /// Hosts without an explicit node, by lowercased short name: the first, and how many.
    short: HashMap<String, (&'a str, usize)>,
}

impl<'a> HostIndex<'a> {
    pub fn new(hosts: &[(&'a str, Option<&'a str>)]) -> HostIndex<'a> {
        let mut index = HostIndex::default();
        for &(h, explicit) in hosts {
            match explicit {
                Some(e) => {
                    index.explicit.entry(e.to_ascii_lowercase()).or_insert(h);
                }
                None => {
                    index.unclaimed.entry(h.to_ascii_lowercase()).or_insert(h);
                    index
                        .short
                        .entry(short_name(h).to_ascii_lowercase())
                        .and_modify(|(_, count)| *count += 1)
                        .or_insert((h, 1));
                }
            }
        }
        index
    }

    /// [`host_for_node`] over these hosts.
    pub fn host_for(&self, node: &str) -> Option<&'a str> {
        let lower = node.to_ascii_lowercase();
        if let Some(h) = self
            .explicit
            .get(&lower)
            .or_else(|| self.unclaimed.get(&lower))
        {
            return Some(h);
        }
        match self.short.get(&short_name(node).to_ascii_lowercase()) {
            Some(&(h, 1)) => Some(h),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The indexes answer as the scans do, on names that exercise every rule.
    #[test]
    fn indexes_agree_with_the_scans() {
        let nodes = [
            "node-1",
            "node-1.a.example",
            "NODE-1",
            "node-2.a.example",
            "node-2.b.example",
            "node-14",
            "Node-3.x",
            "node-24.eayun.com",
            "compute-1",
            "node-1",
        ];
        let mut sorted: Vec<&str> = nodes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let index = NodeIndex::new(nodes);
        let hosts = [
            "node-1",
            "NODE-1",
            "node-1.z",
            "node-2",
            "node-2.c.example",
            "node-14.eayun.com",
            "node-3",
            "NODE-3.y",
            "node-24",
            "Compute-1",
            "compute-9",
            "",
        ];
        for h in hosts {
            for explicit in [None, Some("c1-storage")] {
                assert_eq!(
                    index.node_for(h, explicit),
                    consul_node_for(h, explicit, &sorted),
                    "{h} {explicit:?}"
                );
            }
        }
        let configured = [
            ("node-14.eayun.com", None),
            ("compute-2", Some("c2")),
            ("compute-2b", Some("C2")),
            ("compute-3", None),
            ("compute-3.other", None),
            ("Node-5.a", None),
            ("compute-4", Some("compute-3")),
        ];
        let hindex = HostIndex::new(&configured);
        for n in [
            "node-14",
            "c2",
            "C2",
            "compute-2",
            "compute-3",
            "compute-3.lab",
            "node-5",
            "NODE-5.A",
            "ctl-1",
            "",
        ] {
            assert_eq!(hindex.host_for(n), host_for_node(n, &configured), "{n}");
        }
    }

    #[test]
    fn explicit_wins_then_exact_then_short_name() {
        let nodes = ["node-14", "node-24.eayun.com", "compute-1"];
        assert_eq!(
            consul_node_for("node-14.eayun.com", None, &nodes),
            Some(("node-14", NodeMatch::ShortName))
        );
        assert_eq!(
            consul_node_for("node-24", None, &nodes),
            Some(("node-24.eayun.com", NodeMatch::ShortName))
        );
        assert_eq!(
            consul_node_for("COMPUTE-1", None, &nodes),
            Some(("compute-1", NodeMatch::Exact))
        );
        assert_eq!(
            consul_node_for("compute-1", Some("c1-storage"), &nodes),
            Some(("c1-storage", NodeMatch::Configured))
        );
        assert_eq!(consul_node_for("compute-9", None, &nodes), None);
    }

    #[test]
    fn exact_beats_short_and_ambiguity_matches_nothing() {
        let nodes = [
            "node-1",
            "node-1.a.example",
            "node-2.a.example",
            "node-2.b.example",
        ];
        assert_eq!(
            consul_node_for("node-1", None, &nodes),
            Some(("node-1", NodeMatch::Exact))
        );
        assert_eq!(consul_node_for("node-2", None, &nodes), None);
        assert_eq!(consul_node_for("node-2.c.example", None, &nodes), None);
    }

    #[test]
    fn reverse_mapping() {
        let hosts = [
            ("node-14.eayun.com", None),
            ("compute-2", Some("c2")),
            ("compute-3", None),
        ];
        assert_eq!(host_for_node("node-14", &hosts), Some("node-14.eayun.com"));
        assert_eq!(host_for_node("c2", &hosts), Some("compute-2"));
        // compute-2 is named explicitly: its own name no longer matches it.
        assert_eq!(host_for_node("compute-2", &hosts), None);
        assert_eq!(host_for_node("compute-3.lab", &hosts), Some("compute-3"));
        assert_eq!(host_for_node("ctl-1", &hosts), None);
    }
}
