//! "Did you mean ...?": the closest known name to a mistyped one.

/// The candidate closest to `input`, if one is close enough to be a plausible typo:
///
/// 1. the same name in another case (`COMPUTE-1` → `compute-1`);
/// 2. the same short name, when one side is a fully qualified name
///    (`compute-1` ↔ `compute-1.example.com`);
/// 3. the smallest edit distance (insert, delete, substitute, swap two neighbours; case
///    ignored) of at most a third of the length (at least 1), on the whole name or on the
///    short names.
///
/// Ties go to the earliest candidate. `input` itself is never suggested when it is an exact
/// candidate (the caller has then no error to report).
pub fn closest_match<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let candidates: Vec<&'a str> = candidates.into_iter().filter(|c| *c != input).collect();
    let lower = input.to_lowercase();

    if let Some(c) = candidates.iter().find(|c| c.to_lowercase() == lower) {
        return Some(c);
    }

    let short = |s: &str| s.split('.').next().unwrap_or("").to_lowercase();
    let input_short = short(input);
    if !input_short.is_empty()
        && let Some(c) = candidates
            .iter()
            .find(|c| (c.contains('.') || input.contains('.')) && short(c) == input_short)
    {
        return Some(c);
    }

    let mut best: Option<(usize, &'a str)> = None;
    for c in &candidates {
        let c_lower = c.to_lowercase();
        let mut d = edit_distance(&lower, &c_lower);
        let mut len = lower.chars().count().max(c_lower.chars().count());
        if c.contains('.') || input.contains('.') {
            let (a, b) = (input_short.as_str(), short(c));
            let ds = edit_distance(a, &b);
            if ds < d {
                d = ds;
                len = a.chars().count().max(b.chars().count());
            }
        }
        let limit = (len / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `; did you mean `NAME`?` for the closest candidate, or nothing: the hint every "unknown X"
/// error appends.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest_match(input, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// adjacent characters each cost 1.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=m).collect();
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("adress", "address"), 1);
        assert_eq!(edit_distance("prot", "port"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_hint_text() {
        assert_eq!(
            did_you_mean("compte-1", ["compute-1", "compute-2"]),
            "; did you mean `compute-1`?"
        );
        assert_eq!(did_you_mean("storage-9", ["compute-1"]), "");
    }

    #[test]
    fn suggestions() {
        let keys = [
            "driver",
            "address",
            "port",
            "user",
            "password_file",
            "password_env",
        ];
        assert_eq!(closest_match("adress", keys), Some("address"));
        assert_eq!(closest_match("pasword_file", keys), Some("password_file"));
        assert_eq!(closest_match("Port", keys), Some("port"));
        assert_eq!(closest_match("colour", keys), None);
        assert_eq!(
            closest_match("port", keys),
            None,
            "an exact match is no typo"
        );

        let hosts = ["compute-1", "compute-2.example.com", "ctl1"];
        assert_eq!(closest_match("COMPUTE-1", hosts), Some("compute-1"));
        assert_eq!(
            closest_match("compute-1.example.com", hosts),
            Some("compute-1")
        );
        assert_eq!(
            closest_match("compute-2", hosts),
            Some("compute-2.example.com")
        );
        assert_eq!(closest_match("compute1", hosts), Some("compute-1"));
        assert_eq!(
            closest_match("compte-2.example.com", hosts),
            Some("compute-2.example.com")
        );
        assert_eq!(closest_match("storage-9", hosts), None);
    }
}
