//! Consul's `filter` query parameter on the health endpoints (a subset of its expression
//! language, go-bexpr): `or`, `and`, `not`, parentheses; `==`, `!=`, `matches`,
//! `not matches` (RE2-like regular expressions, `(?i)` included), `contains`,
//! `not contains`, `"v" in Sel`, `"v" not in Sel`, `is empty`, `is not empty`; selectors are
//! the top-level string fields of a check (`Node`, `CheckID`, `Name`, `Status`, `Notes`,
//! `Output`, `ServiceID`, `ServiceName`, `Type`). An expression Consul would refuse (bad
//! syntax, an unknown selector) is refused with 400, as Consul does.

use regex::Regex;
use serde_json::Value;

const SELECTORS: &[&str] = &[
    "Node",
    "CheckID",
    "Name",
    "Status",
    "Notes",
    "Output",
    "ServiceID",
    "ServiceName",
    "Type",
];

#[derive(Debug)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Eq(String, String, bool),
    Matches(String, Regex, bool),
    Contains(String, String, bool),
    Empty(String, bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    Eq,
    Ne,
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                out.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            '=' | '!' => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err(format!("unexpected {c:?}"));
                }
                out.push(if c == '=' { Tok::Eq } else { Tok::Ne });
            }
            '"' | '`' => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => match chars.next() {
                            Some(e) => v.push(e),
                            None => return Err("unterminated string".into()),
                        },
                        Some(x) => v.push(x),
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let mut w = String::new();
                while let Some(&x) = chars.peek() {
                    if x.is_alphanumeric() || x == '_' || x == '.' {
                        w.push(x);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if w.is_empty() {
                    return Err(format!("unexpected {c:?}"));
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(x)) if x == w) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.word("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.word("and") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.word("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.at += 1;
            let e = self.or()?;
            if self.next() != Some(Tok::Close) {
                return Err("missing )".into());
            }
            return Ok(e);
        }
        self.matching()
    }

    fn selector(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) if SELECTORS.contains(&w.as_str()) => Ok(w),
            Some(Tok::Word(w)) => Err(format!("Selector {w:?} is not valid")),
            t => Err(format!("expected a selector, got {t:?}")),
        }
    }

    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(v) | Tok::Word(v)) => Ok(v),
            t => Err(format!("expected a value, got {t:?}")),
        }
    }

    fn matching(&mut self) -> Result<Expr, String> {
        // "value" [not] in Selector
        if let Some(Tok::Str(v)) = self.peek().cloned() {
            self.at += 1;
            let negate = self.word("not");
            if !self.word("in") {
                return Err("expected `in`".into());
            }
            return Ok(Expr::Contains(self.selector()?, v, negate));
        }
        let sel = self.selector()?;
        match self.next() {
            Some(Tok::Eq) => Ok(Expr::Eq(sel, self.value()?, false)),
            Some(Tok::Ne) => Ok(Expr::Eq(sel, self.value()?, true)),
            Some(Tok::Word(w)) => {
                let (negate, op) = if w == "not" {
                    match self.next() {
                        Some(Tok::Word(op)) => (true, op),
                        t => return Err(format!("unexpected {t:?}")),
                    }
                } else if w == "is" {
                    let negate = self.word("not");
                    if !self.word("empty") {
                        return Err("expected `empty`".into());
                    }
                    return Ok(Expr::Empty(sel, negate));
                } else {
                    (false, w)
                };
                match op.as_str() {
                    "matches" => {
                        let re = self.value()?;
                        let re = Regex::new(&re).map_err(|e| e.to_string())?;
                        Ok(Expr::Matches(sel, re, negate))
                    }
                    "contains" => Ok(Expr::Contains(sel, self.value()?, negate)),
                    other => Err(format!("unknown operator {other:?}")),
                }
            }
            t => Err(format!("expected an operator, got {t:?}")),
        }
    }
}

/// Parses an expression; the error is Consul's kind of message.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokens(s)?,
        at: 0,
    };
    let e = p.or()?;
    if p.at < p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.at]));
    }
    Ok(e)
}

fn field<'a>(check: &'a Value, sel: &str) -> &'a str {
    check[sel].as_str().unwrap_or("")
}

impl Expr {
    pub fn eval(&self, check: &Value) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(check) || b.eval(check),
            Expr::And(a, b) => a.eval(check) && b.eval(check),
            Expr::Not(a) => !a.eval(check),
            Expr::Eq(s, v, neg) => (field(check, s) == v) != *neg,
            Expr::Matches(s, re, neg) => re.is_match(field(check, s)) != *neg,
            Expr::Contains(s, v, neg) => field(check, s).contains(v.as_str()) != *neg,
            Expr::Empty(s, neg) => field(check, s).is_empty() != *neg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expressions_select_as_consul_does() {
        let serf =
            json!({"Node": "n1", "CheckID": "serfHealth", "ServiceName": "", "Status": "passing"});
        let nova = json!({"Node": "n1", "CheckID": "service:nova-compute", "ServiceName": "Nova-Compute", "Status": "critical"});
        let other = json!({"Node": "n1", "CheckID": "service:web", "ServiceName": "web", "Status": "passing"});
        let f = parse(
            r#"CheckID == "serfHealth" or ServiceName matches "(?i)(nova-compute|^libvirt)""#,
        )
        .unwrap();
        assert!(f.eval(&serf) && f.eval(&nova) && !f.eval(&other));
        let f = parse(r#"not (Status == passing) and "Nova" in ServiceName"#).unwrap();
        assert!(f.eval(&nova) && !f.eval(&serf));
        let f = parse("ServiceName is empty").unwrap();
        assert!(f.eval(&serf) && !f.eval(&other));
        assert!(parse("Bogus == 1").is_err());
        assert!(parse("CheckID == ").is_err());
        assert!(parse("(CheckID == x").is_err());
        assert!(parse(r#"ServiceName matches "(""#).is_err());
    }
}
