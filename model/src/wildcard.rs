//! Wildcard matchers: the one home of `*`/`?` matching in trustswap.
//!
//! * [`wildcard_match`] follows `github.com/IGLOU-EU/go-wildcard` v1.0.3 `Match`, which Kyverno's
//!   `ext/wildcard` wraps: `*` matches any run of characters (including `/` and the empty run),
//!   `?` matches exactly one character, everything else is literal, and an empty pattern
//!   matches only the empty string.
//! * [`Glob`] follows `github.com/gobwas/glob` compiled without separators (as Kyverno's
//!   `CompileMatchImageReference` does): `*` and `**` match any run (including `/`), `?` one
//!   character, `[abc]`, `[a-z]`, `[!abc]` character classes, `{a,b}` alternatives, `\` escapes.

/// go-wildcard `Match(pattern, s)`.
pub fn wildcard_match(pattern: &str, s: &str) -> bool {
    if pattern.is_empty() {
        return s.is_empty();
    }
    if pattern == "*" {
        return true;
    }
    if pattern.is_ascii() && s.is_ascii() {
        return star_match(pattern.as_bytes(), s.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    star_match(&p, &t, '*', '?')
}

/// The classic greedy star algorithm with one backtrack point, over bytes
/// (ASCII) or characters: `any` matches any run, `one` one element.
fn star_match<T: Copy + PartialEq>(p: &[T], t: &[T], any: T, one: T) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || (p[pi] != any && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == any {
        pi += 1;
    }
    pi == p.len()
}

/// Whether a string contains go-wildcard metacharacters.
pub fn contains_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

#[derive(Debug, Clone, PartialEq)]
enum GlobTok {
    Lit(char),
    Any,
    One,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
    Alt(Vec<Vec<GlobTok>>),
}

/// Why a glob does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("unexpected '{found}' at position {position}")]
    Unexpected { found: char, position: usize },
    #[error("trailing escape")]
    TrailingEscape,
    #[error("unclosed '['")]
    UnclosedClass,
    #[error("empty character class")]
    EmptyClass,
    #[error("unclosed '{{'")]
    UnclosedAlternatives,
}

/// A compiled gobwas-style glob (no separators).
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    source: String,
    toks: Vec<GlobTok>,
}

impl Glob {
    /// Compiles a glob; errors on an unclosed `[` or `{`.
    pub fn compile(pattern: &str) -> Result<Glob, GlobError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pos = 0;
        let toks = parse_seq(&chars, &mut pos, false)?;
        if pos != chars.len() {
            return Err(GlobError::Unexpected {
                found: chars[pos],
                position: pos,
            });
        }
        Ok(Glob {
            source: pattern.to_string(),
            toks,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, s: &str) -> bool {
        let t: Vec<char> = s.chars().collect();
        match_toks(&self.toks, &t, &mut 0)
    }
}

fn parse_seq(c: &[char], pos: &mut usize, in_alt: bool) -> Result<Vec<GlobTok>, GlobError> {
    let mut out = Vec::new();
    while *pos < c.len() {
        let ch = c[*pos];
        match ch {
            '*' => {
                *pos += 1;
                while *pos < c.len() && c[*pos] == '*' {
                    *pos += 1;
                }
                out.push(GlobTok::Any);
            }
            '?' => {
                *pos += 1;
                out.push(GlobTok::One);
            }
            '\\' => {
                *pos += 1;
                if *pos >= c.len() {
                    return Err(GlobError::TrailingEscape);
                }
                out.push(GlobTok::Lit(c[*pos]));
                *pos += 1;
            }
            '[' => {
                *pos += 1;
                let mut negated = false;
                if *pos < c.len() && c[*pos] == '!' {
                    negated = true;
                    *pos += 1;
                }
                let mut items = Vec::new();
                loop {
                    if *pos >= c.len() {
                        return Err(GlobError::UnclosedClass);
                    }
                    let a = c[*pos];
                    if a == ']' {
                        *pos += 1;
                        break;
                    }
                    if *pos + 2 < c.len() && c[*pos + 1] == '-' && c[*pos + 2] != ']' {
                        items.push((a, c[*pos + 2]));
                        *pos += 3;
                    } else {
                        items.push((a, a));
                        *pos += 1;
                    }
                }
                if items.is_empty() {
                    return Err(GlobError::EmptyClass);
                }
                out.push(GlobTok::Class { negated, items });
            }
            '{' => {
                *pos += 1;
                let mut alts = Vec::new();
                loop {
                    let seq = parse_seq(c, pos, true)?;
                    alts.push(seq);
                    if *pos >= c.len() {
                        return Err(GlobError::UnclosedAlternatives);
                    }
                    if c[*pos] == ',' {
                        *pos += 1;
                        continue;
                    }
                    if c[*pos] == '}' {
                        *pos += 1;
                        break;
                    }
                }
                out.push(GlobTok::Alt(alts));
            }
            ',' | '}' if in_alt => return Ok(out),
            _ => {
                *pos += 1;
                out.push(GlobTok::Lit(ch));
            }
        }
    }
    Ok(out)
}

fn match_toks(toks: &[GlobTok], t: &[char], _depth: &mut usize) -> bool {
    match_from(toks, t)
}

fn match_from(toks: &[GlobTok], t: &[char]) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return t.is_empty();
    };
    match first {
        GlobTok::Lit(c) => t.first() == Some(c) && match_from(rest, &t[1..]),
        GlobTok::One => !t.is_empty() && match_from(rest, &t[1..]),
        GlobTok::Class { negated, items } => match t.first() {
            Some(ch) => {
                let inside = items.iter().any(|(a, b)| a <= ch && ch <= b);
                inside != *negated && match_from(rest, &t[1..])
            }
            None => false,
        },
        GlobTok::Any => (0..=t.len()).any(|i| match_from(rest, &t[i..])),
        GlobTok::Alt(alts) => alts.iter().any(|alt| {
            let mut joined = alt.clone();
            joined.extend_from_slice(rest);
            match_from(&joined, t)
        }),
    }
}

/// Converts a Kyverno wildcard (`*` any run, `?` one character) to an anchored
/// RE2 pattern, for CEL `matches()`.
pub fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut literal = String::new();
    for c in glob.chars() {
        match c {
            '*' | '?' => {
                out.push_str(&regex::escape(&literal));
                literal.clear();
                out.push_str(if c == '*' { ".*" } else { "." });
            }
            _ => literal.push(c),
        }
    }
    out.push_str(&regex::escape(&literal));
    out.push('$');
    out
}

/// A go-wildcard compiled once, for patterns matched many times (the drift
/// audit's image globs and exceptions). Same semantics as [`wildcard_match`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    pattern: String,
    any: bool,
    literal: bool,
}

impl Wildcard {
    pub fn new(pattern: &str) -> Wildcard {
        Wildcard {
            pattern: pattern.to_owned(),
            any: pattern == "*",
            literal: !contains_wildcard(pattern),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn matches(&self, s: &str) -> bool {
        if self.any {
            true
        } else if self.literal {
            self.pattern == s
        } else {
            wildcard_match(&self.pattern, s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One table for every wildcard form: go-wildcard, its compiled form, the
    /// gobwas glob (where the syntax overlaps) and the CEL regexp translation.
    #[test]
    fn one_table_for_every_form() {
        let table = [
            ("*", "x/y/z", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "abbc", false),
            ("ghcr.io/org/*", "ghcr.io/org/app:1", true),
            ("ghcr.io/org/*", "ghcr.io/org-evil/app", false),
            ("*.example.com", "registry.example.com", true),
            ("é*", "été", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
        ];
        for (p, s, want) in table {
            assert_eq!(wildcard_match(p, s), want, "wildcard_match {p:?} {s:?}");
            assert_eq!(Wildcard::new(p).matches(s), want, "Wildcard {p:?} {s:?}");
            let re = regex::Regex::new(&glob_to_regex(p)).expect("regex");
            assert_eq!(re.is_match(s), want, "glob_to_regex {p:?} {s:?}");
            if !p.is_empty() {
                let g = Glob::compile(p).expect("glob");
                assert_eq!(g.is_match(s), want, "Glob {p:?} {s:?}");
            }
        }
    }
}
