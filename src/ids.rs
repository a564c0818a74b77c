//! Random identifiers (run ids, e-mail Message-IDs): they tell things apart, they guard nothing.

use std::time::SystemTime;

/// `bytes` random bytes from the operating system, as lower-case hex. Should the OS refuse, the
/// clock's nanoseconds and the pid stand in: these ids tell runs apart, they protect nothing.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::getrandom(&mut buf).is_err() {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = nanos ^ (u128::from(std::process::id()) << 64);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_of_the_asked_length_and_different_each_time() {
        let a = super::random_hex(8);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, super::random_hex(8));
    }
}
