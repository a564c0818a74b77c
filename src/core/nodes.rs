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

#[cfg(test)]
mod tests {
    use super::*;

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
