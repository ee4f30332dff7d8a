//! Versions and constraints as Masterminds/semver v3 reads them (`semver`, `semverCompare`):
//! lenient versions (`v1.2`, `1`), constraints with `||`, `,` or spaces, `=`, `!=`, `>`,
//! `<`, `>=`, `<=`, `~`, `^`, wildcards (`1.2.x`, `*`) and hyphen ranges.

use std::cmp::Ordering;

pub(crate) struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub meta: String,
    pub original: String,
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        let (v, parts) = parse_partial(text).ok_or_else(|| "Invalid Semantic Version".to_string())?;
        if parts.iter().any(Option::is_none) {
            return Err("Invalid Semantic Version".into());
        }
        Ok(v)
    }

    fn cmp(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch)).then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            for (x, y) in a.split('.').zip(b.split('.')) {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.split('.').count().cmp(&b.split('.').count())
        }
    }
}

/// A version whose missing or wildcard parts are None (`1.2` -> [1, 2, None]).
fn parse_partial(text: &str) -> Option<(Version, [Option<u64>; 3])> {
    let t = text.trim();
    let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
    let (t, meta) = t.split_once('+').unwrap_or((t, ""));
    let (core, pre) = match t.find('-') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, ""),
    };
    if core.is_empty() {
        return None;
    }
    let mut parts = [None; 3];
    let mut wild = false;
    for (i, p) in core.split('.').enumerate() {
        if i > 2 {
            return None;
        }
        if matches!(p, "x" | "X" | "*") {
            wild = true;
            continue;
        }
        if wild || p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        parts[i] = Some(p.parse().ok()?);
    }
    let v = Version {
        major: parts[0].unwrap_or(0),
        minor: parts[1].unwrap_or(0),
        patch: parts[2].unwrap_or(0),
        pre: pre.to_string(),
        meta: meta.to_string(),
        original: text.to_string(),
    };
    Some((v, parts))
}

/// Does `version` meet `constraint`?
pub(crate) fn compare(constraint: &str, version: &str) -> Result<bool, String> {
    let v = Version::parse(version)?;
    let mut any = false;
    for alt in constraint.split("||") {
        let mut all = true;
        for c in terms(alt)? {
            if !check(&c, &v)? {
                all = false;
            }
        }
        any |= all;
    }
    Ok(any)
}

/// Splits one `||` alternative into `op version` terms (hyphen ranges become two).
fn terms(alt: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> = alt.replace(',', " ").split_whitespace().map(str::to_string).collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if words.get(i + 1).is_some_and(|n| n == "-") && i + 2 < words.len() {
            out.push(format!(">={w}"));
            out.push(format!("<={}", words[i + 2]));
            i += 3;
            continue;
        }
        // An operator alone (`>= 1.2`) joins the next word.
        if w.chars().all(|c| "<>=!~^".contains(c)) && i + 1 < words.len() {
            out.push(format!("{w}{}", words[i + 1]));
            i += 2;
            continue;
        }
        out.push(w.clone());
        i += 1;
    }
    if out.is_empty() {
        return Err(format!("improper constraint: {alt}"));
    }
    Ok(out)
}

fn check(term: &str, v: &Version) -> Result<bool, String> {
    let op_len = term.find(|c: char| !"<>=!~^".contains(c)).unwrap_or(term.len());
    let (op, ver) = term.split_at(op_len);
    let (c, parts) = parse_partial(ver).ok_or_else(|| format!("improper constraint: {term}"))?;
    // A prerelease version only meets constraints that name a prerelease.
    if !v.pre.is_empty() && c.pre.is_empty() {
        return Ok(false);
    }
    let given = parts.iter().take_while(|p| p.is_some()).count();
    let bump = |n: usize| -> Version {
        let mut u =
            Version { major: c.major, minor: c.minor, patch: c.patch, pre: String::new(), meta: String::new(), original: String::new() };
        match n {
            0 => (u.major, u.minor, u.patch) = (c.major + 1, 0, 0),
            1 => (u.minor, u.patch) = (c.minor + 1, 0),
            _ => u.patch = c.patch + 1,
        }
        u
    };
    let ge = |lo: &Version| v.cmp(lo) != Ordering::Less;
    let lt = |hi: &Version| v.cmp(hi) == Ordering::Less;
    Ok(match op {
        "" | "=" | "==" => {
            if given == 0 {
                true
            } else if given < 3 {
                ge(&c) && lt(&bump(given - 1))
            } else {
                v.cmp(&c) == Ordering::Equal
            }
        }
        "!=" => {
            if given < 3 {
                !(given == 0 || (ge(&c) && lt(&bump(given.max(1) - 1))))
            } else {
                v.cmp(&c) != Ordering::Equal
            }
        }
        ">" => {
            if given < 3 && given > 0 {
                ge(&bump(given - 1))
            } else {
                v.cmp(&c) == Ordering::Greater
            }
        }
        ">=" | "=>" => ge(&c),
        "<" => lt(&c),
        "<=" | "=<" => {
            if given < 3 && given > 0 {
                lt(&bump(given - 1))
            } else {
                v.cmp(&c) != Ordering::Greater
            }
        }
        "~" | "~>" => ge(&c) && lt(&bump(if given <= 1 { 0 } else { 1 })),
        "^" => {
            let upto = if c.major > 0 || given <= 1 {
                0
            } else if c.minor > 0 || given == 2 {
                1
            } else {
                2
            };
            ge(&c) && lt(&bump(upto))
        }
        _ => return Err(format!("improper constraint: {term}")),
    })
}
