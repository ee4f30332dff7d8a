//! Argo CD's glob matching, used by ignoreDifferences, health
//! customizations and AppProject rules alike.

/// Glob match as Argo CD's `glob.Match` without separators: `*` matches any
/// run of characters (`.` and `/` included), `?` any one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with single-star backtracking: linear in practice and
    // never recursive, so a hostile pattern cannot blow the stack.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match as glob;

    #[test]
    fn globs() {
        assert!(glob("", ""));
        assert!(!glob("", "apps"));
        assert!(glob("*", ""));
        assert!(glob("*", "apps"));
        assert!(glob("*.crossplane.io", "aws.crossplane.io"));
        assert!(!glob("*.crossplane.io", "crossplane.io"));
        assert!(glob("Deploy?ent", "Deployment"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("*.example.com/*", "foo.example.com/Bar"));
    }
}
