//! Closest-name suggestions for typos in host, cloud and key names.

/// Levenshtein distance, case-insensitive.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate worth suggesting: a short-name/FQDN match first, else the nearest by
/// edit distance when it is near enough to be a typo.
pub fn closest<'a, I>(wanted: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if let Some(c) = candidates.iter().find(|c| short(c) == short(wanted)) {
        return Some(c);
    }
    let limit = (wanted.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(wanted, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let hosts = ["compute-1", "compute-2", "node-24.eayun.com"];
        assert_eq!(closest("compte-1", hosts), Some("compute-1"));
        assert_eq!(closest("node-24", hosts), Some("node-24.eayun.com"));
        assert_eq!(
            closest("NODE-24.eayun.com", hosts),
            Some("node-24.eayun.com")
        );
        assert_eq!(closest("storage-9", hosts), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
