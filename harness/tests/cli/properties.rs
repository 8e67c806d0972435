//! Property tests of the parsers that read user input (issue 9: never destroy,
//! never hang, never overstate), on stable, in the normal test suite. The same
//! entry points and oracles as the cargo-fuzz targets in `fuzz/`
//! (`trustswap::fuzzing`): arbitrary bytes and structure-aware mutations of
//! the repository's own valid inputs never panic, every failure is a clean
//! `Error` that exits 2, and no bundle is accepted unless it verifies.
//!
//! Deterministic: ChaCha with a fixed seed and explicit case counts, so CI
//! replays the same inputs (`PROPTEST_RNG_SEED` / `PROPTEST_CASES` override
//! both, to explore). Failures are not persisted to files: a failing input
//! becomes a named regression test at the end of this file.
//!
//! `cargo test -p trustswap --test cli -- --ignored properties::write_fuzz_seeds`
//! (`just fuzz-seeds`) regenerates the seed corpora under `fuzz/seeds/`.

use crate::common;

use std::path::{Path, PathBuf};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};
use serde_json::Value;

use trustswap::exit;
use trustswap::fuzzing::{self, BundleBench, OciPlace, UNSIGNED_DIGEST};

// ---- running -------------------------------------------------------------------

const SEED: u64 = 0x7275_7374_7377_6170; // "trustswap"

/// `cases` cases from a fixed ChaCha seed, unless the environment asks otherwise.
fn config(cases: u32) -> Config {
    let env = Config::default(); // reads PROPTEST_* from the environment
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            cases
        },
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            env.rng_seed
        } else {
            RngSeed::Fixed(SEED)
        },
        failure_persistence: None,
        max_shrink_iters: 512,
        max_shrink_time: 20_000,
        ..env
    }
}

/// Run `test` on `cases` values of `strategy`; a panic or `Err` fails the test
/// with the minimal input proptest shrank it to.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value)) {
    let mut runner = TestRunner::new(config(cases));
    let result = runner.run(&strategy, |v| {
        test(v);
        Ok::<(), TestCaseError>(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A panic message short enough to read, for inputs that may be large.
fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.chars().take(600).collect()
}

// ---- inputs ----------------------------------------------------------------------

/// Named inputs.
type Seeds = Vec<(String, Vec<u8>)>;

fn repo(rel: &str) -> PathBuf {
    common::root().join(rel)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml_in(dir: &str) -> Seeds {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap_or_default().to_string_lossy().into(),
                read(&p),
            )
        })
        .collect()
}

/// The hand-written policy sets (what `trustswap diff` is pointed at).
fn policy_seeds() -> Seeds {
    ["chainguard", "dhi", "dhi-audit"]
        .into_iter()
        .map(|v| {
            let p = format!("fixtures/policies/handwritten/{v}/verify-images.yaml");
            (format!("{v}.yaml"), read(&repo(&p)))
        })
        .collect()
}

fn scenario_seeds() -> Seeds {
    yaml_in("scenarios")
}

/// The drift example, as written and as JSON (the form large states come in).
fn drift_seeds() -> Seeds {
    let yaml = read(&repo("fixtures/audit/drift-example.yaml"));
    let parsed: trustswap::audit::drift::AuditInput =
        serde_saphyr::from_slice(&yaml).expect("the drift example parses");
    let json = serde_json::to_vec_pretty(&parsed).expect("json");
    vec![
        ("drift-example.yaml".into(), yaml),
        ("drift-example.json".into(), json),
    ]
}

fn bench() -> BundleBench {
    BundleBench::lab().expect("the lab bundle bench builds")
}

// ---- byte-level, structure-aware mutations ------------------------------------------

/// Tokens that trip YAML/JSON parsers: tags, anchors, directives, special
/// scalars, invalid UTF-8, BOMs, control characters.
const TOKENS: &[&[u8]] = &[
    b"~",
    b"null",
    b".nan",
    b"-.inf",
    b"!!binary ",
    b"!!str ",
    b"!!int ",
    b"!!map ",
    b"!custom ",
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"? ",
    b"- ",
    b": ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"'",
    b"#",
    b"\t",
    b"\r\n",
    b"\n---\n",
    b"\n...\n",
    b"%YAML 1.1\n",
    b"%TAG ! tag:x,2000:\n",
    b"|-\n",
    b">\n",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"\\u0000",
    b"\\ud800",
    b"\xe2\x80\xae",
];

/// Numbers at and past every boundary the parsers meet.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1e400",
    "-1e400",
    "1.7976931348623157e309",
    "99999999999999999999999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "4294967296",
    "0x7fffffffffffffffff",
    "0o777777777777777777777777",
    "1_000_000",
    "99999999999999999d",
    "9223372036854775807s",
    "+262143-12-31T23:59:59Z",
    "9999-12-31T23:59:59Z",
    "1970-01-01T00:00:00+99:99",
];

#[derive(Debug, Clone, Copy)]
enum NestKind {
    Array,
    Object,
    YamlBlock,
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: Index,
        bit: u8,
    },
    Truncate {
        at: Index,
    },
    Insert {
        at: Index,
        bytes: Vec<u8>,
    },
    Delete {
        at: Index,
        len: usize,
    },
    DuplicateLine {
        at: Index,
        times: usize,
    },
    DuplicateKey {
        at: Index,
    },
    Splice {
        from: Index,
        to: Index,
        len: usize,
    },
    Token {
        at: Index,
        token: &'static [u8],
    },
    Number {
        at: Index,
        number: &'static str,
    },
    Nest {
        at: Index,
        depth: usize,
        kind: NestKind,
    },
    AliasBomb,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        1 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        2 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        2 => (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        2 => (any::<Index>(), 1usize..4)
            .prop_map(|(at, times)| Mutation::DuplicateLine { at, times }),
        2 => any::<Index>().prop_map(|at| Mutation::DuplicateKey { at }),
        2 => (any::<Index>(), any::<Index>(), 1usize..256)
            .prop_map(|(from, to, len)| Mutation::Splice { from, to, len }),
        4 => (any::<Index>(), proptest::sample::select(TOKENS))
            .prop_map(|(at, token)| Mutation::Token { at, token }),
        3 => (any::<Index>(), proptest::sample::select(NUMBERS))
            .prop_map(|(at, number)| Mutation::Number { at, number }),
        1 => (
            any::<Index>(),
            proptest::sample::select(vec![2usize, 64, 200, 1_000, 20_000]),
            prop_oneof![
                Just(NestKind::Array),
                Just(NestKind::Object),
                Just(NestKind::YamlBlock)
            ]
        )
            .prop_map(|(at, depth, kind)| Mutation::Nest { at, depth, kind }),
        1 => Just(Mutation::AliasBomb),
    ]
}

fn line_bounds(v: &[u8], at: usize) -> (usize, usize) {
    let start = v[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let end = v[at..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(v.len(), |i| at + i + 1);
    (start, end)
}

fn apply(mut v: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let pos = |i: &Index, v: &Vec<u8>| i.index(v.len() + 1);
    match m {
        Mutation::FlipBit { at, bit } => {
            if !v.is_empty() {
                let i = at.index(v.len());
                v[i] ^= 1 << bit;
            }
        }
        Mutation::Truncate { at } => {
            let i = pos(at, &v);
            v.truncate(i);
        }
        Mutation::Insert { at, bytes } => {
            let i = pos(at, &v);
            v.splice(i..i, bytes.iter().copied());
        }
        Mutation::Delete { at, len } => {
            let i = pos(at, &v);
            let end = (i + len).min(v.len());
            v.drain(i..end);
        }
        Mutation::DuplicateLine { at, times } => {
            let i = pos(at, &v).min(v.len());
            let (s, e) = line_bounds(&v, i);
            let mut line = v[s..e].to_vec();
            if !line.ends_with(b"\n") {
                line.push(b'\n');
            }
            for _ in 0..*times {
                v.splice(e..e, line.iter().copied());
            }
        }
        Mutation::DuplicateKey { at } => {
            // `"key": ` or `key: ` at or after `at`: repeat the key with another value.
            let i = pos(at, &v).min(v.len());
            let text = String::from_utf8_lossy(&v[i..]).into_owned();
            if let Some(colon) = text.find(": ").or_else(|| text.find("\":")) {
                let before = &text[..colon];
                let key_start = before.rfind(['\n', '{', ',', '-']).map_or(0, |k| k + 1);
                let key = before[key_start..].trim().trim_end_matches('"').to_owned();
                let key = key.trim_start_matches('"');
                if !key.is_empty() {
                    let at = i + key_start;
                    let dup = if v.first() == Some(&b'{') {
                        format!("\"{key}\":null,")
                    } else {
                        format!("{key}: ~\n")
                    };
                    let dup = if text[..key_start].ends_with('\n') || key_start == 0 {
                        // Keep the indentation of the key we repeat.
                        let indent: String = text[key_start..]
                            .chars()
                            .take_while(|c| *c == ' ')
                            .collect();
                        format!("{dup}{indent}")
                    } else {
                        dup
                    };
                    let at = at.min(v.len());
                    v.splice(at..at, dup.into_bytes());
                }
            }
        }
        Mutation::Splice { from, to, len } => {
            if !v.is_empty() {
                let f = from.index(v.len());
                let chunk = v[f..(f + len).min(v.len())].to_vec();
                let t = pos(to, &v);
                v.splice(t..t, chunk);
            }
        }
        Mutation::Token { at, token } => {
            let i = pos(at, &v);
            v.splice(i..i, token.iter().copied());
        }
        Mutation::Number { at, number } => {
            // Replace the next run of digits (or insert) with the number.
            let i = pos(at, &v);
            let start = v[i..]
                .iter()
                .position(u8::is_ascii_digit)
                .map_or(v.len(), |k| i + k);
            let end = v[start..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(v.len(), |k| start + k);
            v.splice(start..end, number.bytes());
        }
        Mutation::Nest { at, depth, kind } => {
            let i = pos(at, &v);
            let nested = match kind {
                NestKind::Array => format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)),
                NestKind::Object => {
                    format!("{}0{}", "{\"a\":".repeat(*depth), "}".repeat(*depth))
                }
                NestKind::YamlBlock => {
                    let depth = (*depth).min(300);
                    let mut s = String::from("\n");
                    for d in 0..depth {
                        s.push_str(&" ".repeat(d));
                        s.push_str("a:\n");
                    }
                    s.push_str(&" ".repeat(depth));
                    s.push_str("0\n");
                    s
                }
            };
            v.splice(i..i, nested.into_bytes());
        }
        Mutation::AliasBomb => {
            // 9^3 nodes: alias expansion, far under the parser's node budget (the
            // full bomb, which breaches it, is a regression test below).
            let mut bomb = alias_bomb(3);
            bomb.extend_from_slice(&v);
            v = bomb;
        }
    }
    v
}

/// `x0 .. x{levels-1}`, each a list of nine aliases of the one before:
/// 9^levels nodes once expanded.
fn alias_bomb(levels: usize) -> Vec<u8> {
    let mut bomb = String::from("x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for k in 1..levels {
        let refs = vec![format!("*x{}", k - 1); 9].join(", ");
        bomb.push_str(&format!("x{k}: &x{k} [{refs}]\n"));
    }
    bomb.into_bytes()
}

/// One of `seeds`, then one to four mutations.
fn mutated(seeds: Seeds) -> impl Strategy<Value = (String, Vec<u8>)> {
    let n = seeds.len();
    (0..n, proptest::collection::vec(mutation(), 1..5)).prop_map(move |(i, ms)| {
        let (name, bytes) = &seeds[i];
        let out = ms.iter().fold(bytes.clone(), apply);
        (format!("{name} {ms:?}"), out)
    })
}

/// Arbitrary bytes, and arbitrary sequences of parser-hostile tokens.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
                proptest::sample::select(NUMBERS).prop_map(|n| n.as_bytes().to_vec()),
                "[a-zA-Z]{1,8}".prop_map(String::into_bytes),
                Just(b"\n  ".to_vec()),
            ],
            0..64
        )
        .prop_map(|parts| parts.concat()),
    ]
}

// ---- JSON-level mutations (bundles, OCI documents) ----------------------------------

#[derive(Debug, Clone)]
enum JsonEdit {
    Remove,
    Null,
    Str(String),
    Number(&'static str),
    Bool,
    Wrap,
    EmptyObject,
    DuplicateKey,
    FlipBase64 { byte: Index, bit: u8 },
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        Just(JsonEdit::Remove),
        Just(JsonEdit::Null),
        "\\PC{0,12}".prop_map(JsonEdit::Str),
        proptest::sample::select(NUMBERS).prop_map(JsonEdit::Number),
        Just(JsonEdit::Bool),
        Just(JsonEdit::Wrap),
        Just(JsonEdit::EmptyObject),
        Just(JsonEdit::DuplicateKey),
        (any::<Index>(), 0u8..8).prop_map(|(byte, bit)| JsonEdit::FlipBase64 { byte, bit }),
    ]
}

/// JSON pointers of every value below the root.
fn pointers(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{path}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

const HOLE: &str = "\u{1}HOLE\u{1}";

/// `doc` with `edit` applied at `pointer`, as JSON text (numbers past f64 and
/// duplicate keys are spliced in as text, which `Value` cannot hold).
fn edit_json(doc: &Value, pointer: &str, edit: &JsonEdit) -> Vec<u8> {
    let mut doc = doc.clone();
    let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let mut text_for_hole: Option<String> = None;
    match edit {
        JsonEdit::Remove => {
            match doc.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    m.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < a.len()
                    {
                        a.remove(i);
                    }
                }
                _ => {}
            }
            return serde_json::to_vec(&doc).unwrap_or_default();
        }
        JsonEdit::DuplicateKey => {
            if let Some(Value::Object(m)) = doc.pointer(parent) {
                let key = last.replace("~1", "/").replace("~0", "~");
                let mut members: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v))
                    .collect();
                members.push(format!("{}:null", Value::from(key.as_str())));
                text_for_hole = Some(format!("{{{}}}", members.join(",")));
                if let Some(slot) = doc.pointer_mut(parent) {
                    *slot = Value::from(HOLE);
                }
            }
        }
        _ => {
            let Some(slot) = doc.pointer_mut(pointer) else {
                return serde_json::to_vec(&doc).unwrap_or_default();
            };
            match edit {
                JsonEdit::Null => *slot = Value::Null,
                JsonEdit::Str(s) => *slot = Value::from(s.as_str()),
                JsonEdit::Bool => *slot = Value::Bool(true),
                JsonEdit::Wrap => *slot = Value::Array(vec![slot.clone()]),
                JsonEdit::EmptyObject => *slot = Value::Object(Default::default()),
                JsonEdit::Number(n) => {
                    text_for_hole = Some((*n).to_owned());
                    *slot = Value::from(HOLE);
                }
                JsonEdit::FlipBase64 { byte, bit } => {
                    if let Some(mut raw) = slot.as_str().and_then(|s| B64.decode(s).ok())
                        && !raw.is_empty()
                    {
                        let i = byte.index(raw.len());
                        raw[i] ^= 1 << bit;
                        *slot = Value::from(B64.encode(&raw));
                    }
                }
                JsonEdit::Remove | JsonEdit::DuplicateKey => {}
            }
        }
    }
    let text = serde_json::to_string(&doc).unwrap_or_default();
    match text_for_hole {
        Some(t) => text
            .replace(&Value::from(HOLE).to_string(), &t)
            .into_bytes(),
        None => text.into_bytes(),
    }
}

/// One of `seeds` (JSON), with one to three edits at random places.
fn json_mutated(seeds: Seeds) -> impl Strategy<Value = (String, Vec<u8>)> {
    let docs: Vec<(String, Value)> = seeds
        .into_iter()
        .map(|(n, b)| (n, serde_json::from_slice(&b).expect("seed is JSON")))
        .collect();
    let n = docs.len();
    (
        0..n,
        proptest::collection::vec((any::<Index>(), json_edit()), 1..4),
    )
        .prop_map(move |(i, edits)| {
            let (name, doc) = &docs[i];
            let mut cur = doc.clone();
            let mut bytes = serde_json::to_vec(&cur).unwrap_or_default();
            for (at, edit) in &edits {
                let mut ps = Vec::new();
                pointers(&cur, String::new(), &mut ps);
                if ps.is_empty() {
                    break;
                }
                bytes = edit_json(&cur, &ps[at.index(ps.len())], edit);
                match serde_json::from_slice(&bytes) {
                    Ok(v) => cur = v,
                    Err(_) => break, // text only from here (huge numbers, duplicate keys)
                }
            }
            (format!("{name} {edits:?}"), bytes)
        })
}

// ---- policy sets ---------------------------------------------------------------------

#[test]
fn shipped_policy_sets_load_and_equal_themselves() {
    for (name, bytes) in policy_seeds() {
        let set = fuzzing::policy_set(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!set.documents.is_empty(), "{name}");
        fuzzing::policy_set_target(&bytes);
    }
}

#[test]
fn policy_sets_from_garbage_fail_cleanly() {
    check(96, garbage(), |bytes| fuzzing::policy_set_target(&bytes));
}

#[test]
fn mutated_policy_sets_fail_cleanly_or_equal_themselves() {
    check(512, mutated(policy_seeds()), |(_, bytes)| {
        fuzzing::policy_set_target(&bytes)
    });
}

/// The values a policy document holds (JSON from YAML): any of them, written
/// as YAML the way rendered sets are written, loads back unchanged.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
        proptest::sample::select(vec![
            "",
            "~",
            "null",
            "true",
            "no",
            "yes",
            "on",
            "0x1f",
            "1e3",
            "0o17",
            "-",
            "- a",
            ": ",
            "#x",
            "'",
            "\"",
            "*a",
            "&a",
            "!tag",
            "%x",
            "@x",
            "`x",
            "|",
            ">",
            "\n",
            " a ",
            "\t",
            "2026-01-01",
            "1_000",
            ".inf",
            ".nan",
            "{}",
            "[]",
            "a: b",
            "=",
            "<<",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("\\PC{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn policy_documents_round_trip_through_yaml() {
    check(128, json_value(), |spec| {
        let doc = serde_json::json!({
            "apiVersion": "kyverno.io/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "round-trip"},
            "spec": spec,
        });
        let text = trustswap::yaml::to_yaml(&doc).expect("serialises");
        let set = fuzzing::policy_set(text.as_bytes())
            .unwrap_or_else(|e| panic!("written YAML does not load back: {e}\n{text}"));
        assert_eq!(set.documents.len(), 1, "{text}");
        assert_eq!(set.documents[0].value, doc, "changed on the way:\n{text}");
    });
}

// ---- scenarios --------------------------------------------------------------------------

#[test]
fn shipped_scenarios_load() {
    for (name, bytes) in scenario_seeds() {
        let s = fuzzing::scenario(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.len(), 1, "{name}");
    }
}

#[test]
fn scenarios_from_garbage_fail_cleanly() {
    check(96, garbage(), |bytes| fuzzing::scenario_target(&bytes));
}

#[test]
fn mutated_scenarios_fail_cleanly() {
    check(512, mutated(scenario_seeds()), |(_, bytes)| {
        fuzzing::scenario_target(&bytes)
    });
}

#[test]
fn durations_parse_exactly_or_not_at_all() {
    use trustswap::experiment::scenario::{MAX_DURATION_SECONDS, parse_duration};
    check(
        256,
        (
            any::<i64>(),
            proptest::sample::select(vec!['s', 'm', 'h', 'd', 'w', 'é']),
        ),
        |(n, unit)| {
            let mult = match unit {
                's' => Some(1i64),
                'm' => Some(60),
                'h' => Some(3600),
                'd' => Some(86400),
                _ => None,
            };
            let want = mult
                .and_then(|m| n.checked_mul(m))
                .filter(|t| n > 0 && *t <= MAX_DURATION_SECONDS);
            assert_eq!(parse_duration(&format!("{n}{unit}")), want, "{n}{unit}");
        },
    );
    check(256, "\\PC{0,24}", |s| {
        let _ = parse_duration(&s);
    });
}

// ---- drift audit input ---------------------------------------------------------------------

#[test]
fn the_drift_example_audits() {
    for (name, bytes) in drift_seeds() {
        let code = fuzzing::drift_input(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(code, exit::FINDING, "{name}: the example has findings");
    }
}

#[test]
fn drift_inputs_from_garbage_fail_cleanly() {
    check(96, garbage(), |bytes| fuzzing::drift_target(&bytes));
}

#[test]
fn mutated_drift_inputs_fail_cleanly() {
    check(320, mutated(drift_seeds()), |(_, bytes)| {
        fuzzing::drift_target(&bytes)
    });
}

#[test]
fn drift_inputs_round_trip_through_yaml_and_json() {
    use trustswap::audit::drift::AuditInput;
    check(160, mutated(drift_seeds()), |(_, bytes)| {
        let Ok(input) = serde_saphyr::from_slice::<AuditInput>(&bytes) else {
            return;
        };
        let yaml = trustswap::yaml::to_yaml(&input).expect("serialises");
        let back: AuditInput = serde_saphyr::from_str(&yaml)
            .unwrap_or_else(|e| panic!("written YAML does not load back: {e}\n{yaml}"));
        assert_eq!(back, input, "changed through YAML:\n{yaml}");
        let json = serde_json::to_vec(&input).expect("serialises");
        let back: AuditInput = serde_saphyr::from_slice(&json)
            .unwrap_or_else(|e| panic!("JSON does not load as YAML: {e}\n{}", show(&json)));
        assert_eq!(back, input, "changed through JSON");
    });
}

// ---- OCI image layouts ------------------------------------------------------------------------

fn oci_seeds() -> Seeds {
    fuzzing::oci_seeds().expect("OCI seeds")
}

#[test]
fn the_oci_seeds_open_and_read() {
    for (name, input) in oci_seeds() {
        let read = fuzzing::oci_layout(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(read > 0, "{name}: nothing read");
    }
}

#[test]
fn oci_layouts_from_garbage_fail_cleanly() {
    let places = proptest::sample::select(OciPlace::ALL.to_vec());
    check(96, (places, garbage()), |(place, bytes)| {
        fuzzing::oci_layout_target(&place.input(&bytes))
    });
}

#[test]
fn mutated_oci_layouts_fail_cleanly() {
    // Mutate the content, keep the place.
    let seeds: Seeds = oci_seeds();
    let split: Vec<(u8, (String, Vec<u8>))> = seeds
        .into_iter()
        .map(|(n, b)| (b[0], (n, b[1..].to_vec())))
        .collect();
    let n = split.len();
    let strategy = (0..n, proptest::collection::vec(mutation(), 1..4)).prop_map(move |(i, ms)| {
        let (place, (_, bytes)) = &split[i];
        let mut input = vec![*place];
        input.extend(ms.iter().fold(bytes.clone(), apply));
        input
    });
    check(192, strategy, |input| fuzzing::oci_layout_target(&input));
}

#[test]
fn oci_documents_with_edited_fields_fail_cleanly() {
    // JSON-level edits of index.json, the manifests and the image index.
    let seeds: Vec<(String, Vec<u8>, u8)> = oci_seeds()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("layer"))
        .map(|(n, b)| (n, b[1..].to_vec(), b[0]))
        .collect();
    let places: std::collections::BTreeMap<String, u8> =
        seeds.iter().map(|(n, _, p)| (n.clone(), *p)).collect();
    let docs: Seeds = seeds.into_iter().map(|(n, b, _)| (n, b)).collect();
    check(160, json_mutated(docs), |(name, bytes)| {
        let seed = name.split(' ').next().unwrap_or_default();
        let mut input = vec![places[seed]];
        input.extend(bytes);
        fuzzing::oci_layout_target(&input)
    });
}

#[test]
fn digests_and_references_round_trip() {
    use trustswap::supply::oci::{Digest, Reference};
    check(
        256,
        proptest::collection::vec(any::<u8>(), 0..64),
        |bytes| {
            let d = Digest::of(&bytes);
            assert_eq!(
                d.to_string().parse::<Digest>().expect("own digest parses"),
                d
            );
        },
    );
    check(
        512,
        "[a-z0-9./:_@+-]{0,24}|sha256:[0-9a-fA-F]{60,66}",
        |s| {
            if let Ok(d) = s.parse::<Digest>() {
                assert_eq!(d.to_string(), s);
            }
            if let Ok(r) = s.parse::<Reference>() {
                let again: Reference = r.to_string().parse().expect("a shown reference parses");
                assert_eq!(again, r);
            }
        },
    );
}

// ---- Sigstore bundles ---------------------------------------------------------------------------

#[test]
fn the_lab_bundles_verify_only_for_their_digest() {
    let b = bench();
    assert_eq!(b.samples.len(), 2);
    for (name, json) in &b.samples {
        assert_eq!(b.verdict(json, b.digest), exit::HOLDS, "{name}");
        assert_ne!(b.verdict(json, UNSIGNED_DIGEST), exit::HOLDS, "{name}");
    }
}

#[test]
fn bundles_from_garbage_are_never_accepted() {
    let b = bench();
    check(96, garbage(), |bytes| {
        b.target(&bytes);
        assert_ne!(b.verdict(&bytes, b.digest), exit::HOLDS, "{}", show(&bytes));
    });
}

#[test]
fn mutated_bundles_are_never_accepted_for_another_digest() {
    let b = bench();
    check(160, mutated(b.samples.clone()), |(_, bytes)| {
        b.target(&bytes)
    });
}

#[test]
fn edited_bundles_are_never_accepted_for_another_digest() {
    let b = bench();
    check(160, json_mutated(b.samples.clone()), |(_, bytes)| {
        b.target(&bytes)
    });
}

/// Every field a verifier must check (the signature, certificate, digest,
/// log entry, SET, inclusion proof, checkpoint): changing any bit of it is
/// refused even for the right artifact.
#[test]
fn bundles_with_a_changed_signed_field_are_refused() {
    let b = bench();
    let docs: Vec<(String, Value)> = b
        .samples
        .iter()
        .map(|(n, j)| (n.clone(), serde_json::from_slice(j).expect("json")))
        .collect();
    // (sample, pointer) of every base64 field and every number-as-string field.
    let mut fields = Vec::new();
    for (i, (_, doc)) in docs.iter().enumerate() {
        let mut ps = Vec::new();
        pointers(doc, String::new(), &mut ps);
        for p in ps {
            let Some(s) = doc.pointer(&p).and_then(Value::as_str) else {
                continue;
            };
            let b64 = B64.decode(s).is_ok_and(|raw| !raw.is_empty());
            let number = s.parse::<u64>().is_ok();
            let checkpoint = p.ends_with("/checkpoint/envelope");
            let algorithm = p.ends_with("/messageDigest/algorithm");
            if b64 || number || checkpoint || algorithm {
                fields.push((i, p));
            }
        }
    }
    assert!(fields.len() >= 12, "{fields:?}");
    let strategy = (
        proptest::sample::select(fields),
        any::<Index>(),
        0u8..8,
        1u64..1000,
    );
    check(192, strategy, |((i, p), at, bit, delta)| {
        let (name, doc) = &docs[i];
        let mut doc = doc.clone();
        let Some(slot) = doc.pointer_mut(&p) else {
            return;
        };
        let s = slot.as_str().unwrap_or_default().to_owned();
        let changed = if let Ok(n) = s.parse::<u64>() {
            (n + delta).to_string()
        } else if p.ends_with("/checkpoint/envelope") || p.ends_with("/algorithm") {
            let mut raw = s.clone().into_bytes();
            let k = at.index(raw.len());
            raw[k] ^= 1 << bit;
            String::from_utf8_lossy(&raw).into_owned()
        } else {
            let mut raw = B64.decode(&s).unwrap_or_default();
            let k = at.index(raw.len());
            raw[k] ^= 1 << bit;
            B64.encode(&raw)
        };
        if changed == s {
            return;
        }
        *slot = Value::from(changed.clone());
        let json = serde_json::to_vec(&doc).expect("json");
        assert_ne!(
            b.verdict(&json, b.digest),
            exit::HOLDS,
            "{name}: accepted with {p} changed from {s:?} to {changed:?}"
        );
    });
}

#[test]
fn mutated_trusted_roots_never_panic() {
    use trustswap::verify::bundles::BundleVerifier;
    use trustswap::verify::trust::TrustMaterial;
    let b = bench();
    let seeds = vec![("trusted_root.json".to_owned(), b.trusted_root.clone())];
    let sample = b.samples[0].1.clone();
    let strategy = prop_oneof![mutated(seeds.clone()), json_mutated(seeds)];
    check(96, strategy, |(_, bytes)| {
        let Ok(trust) = TrustMaterial::from_trusted_root_json(&bytes) else {
            return;
        };
        let Ok(v) = BundleVerifier::new(trust, fuzzing::NOW) else {
            return;
        };
        if let Ok(bundle) = BundleVerifier::parse(&sample) {
            let _ = v.verify_strict(
                bundle,
                sigstore::bundle::verify::ArtifactDigest::Sha256(UNSIGNED_DIGEST),
                &trustswap::verify::certs::IdentityPolicy {
                    identity: "x".into(),
                    issuer: None,
                },
            );
        }
    });
}

// ---- regressions: inputs the properties found --------------------------------------------

/// `durations_parse_exactly_or_not_at_all` found `-153722867280912931m`: the
/// multiplication overflowed (a panic in debug builds, a wrapped, possibly
/// negative clock step in release). A duration past 100 years is not one.
#[test]
fn regression_durations_past_the_clock_are_not_durations() {
    use trustswap::experiment::scenario::parse_duration;
    for s in [
        "-153722867280912931m",
        "99999999999999999d",
        "106751991167300d",
        "36501d",
    ] {
        assert_eq!(parse_duration(s), None, "{s}");
    }
    assert_eq!(parse_duration("36500d"), Some(36500 * 86400));
    let text = String::from_utf8(read(&repo("scenarios/break-glass-expiry.yaml"))).expect("utf-8");
    assert!(text.contains("advance: 2h"));
    for huge in ["106751991167300d", "9223372036854775807s"] {
        let bad = text.replace("advance: 2h", &format!("advance: {huge}"));
        let err = fuzzing::scenario(bad.as_bytes()).expect_err("refused");
        assert_eq!(err.exit_code(), exit::USAGE, "{}", err.render());
        assert!(err.to_string().contains("is not a duration"), "{err}");
    }
}

/// `bundles_with_a_changed_signed_field_are_refused` found that a bundle whose
/// `messageDigest` names another artifact verified (the crate ignores the
/// field); the Sigstore conformance case `message-digest-mismatch_fail`
/// requires a refusal.
#[test]
fn regression_a_bundle_naming_another_digest_is_refused() {
    let b = bench();
    let (_, json) = &b.samples[0];
    let mut doc: Value = serde_json::from_slice(json).expect("json");
    let named = doc
        .pointer_mut("/messageSignature/messageDigest/digest")
        .expect("a message-signature bundle");
    let mut raw = B64
        .decode(named.as_str().unwrap_or_default())
        .expect("base64");
    raw[0] ^= 1;
    *named = Value::from(B64.encode(&raw));
    let tampered = serde_json::to_vec(&doc).expect("json");
    assert_eq!(b.verdict(&tampered, b.digest), exit::FINDING);
    // The same for the algorithm it names.
    let mut doc: Value = serde_json::from_slice(json).expect("json");
    *doc.pointer_mut("/messageSignature/messageDigest/algorithm")
        .expect("algorithm") = Value::from("SHA2_512");
    let tampered = serde_json::to_vec(&doc).expect("json");
    assert_ne!(b.verdict(&tampered, b.digest), exit::HOLDS);
}

/// The full billion-laughs bomb (9^10 nodes) stops at the YAML parser's node
/// budget with a clean error (generic documents: policy sets), or at the
/// first field of the wrong type (typed input: the drift audit).
#[test]
fn a_billion_laughs_is_refused_by_the_parser_budget() {
    let policy = [alias_bomb(10), policy_seeds().remove(0).1].concat();
    let err = fuzzing::policy_set(&policy).expect_err("refused");
    assert_eq!(err.exit_code(), exit::USAGE, "{}", err.render());
    assert!(err.to_string().contains("budget"), "{err}");
    // Typed input stops at the first field that is not of its type.
    let drift = [alias_bomb(10), drift_seeds().remove(0).1].concat();
    let err = fuzzing::drift_input(&drift).expect_err("refused");
    assert_eq!(err.exit_code(), exit::USAGE, "{}", err.render());
}

// ---- seed corpora for cargo-fuzz ------------------------------------------------------------------

/// The committed seeds are still valid inputs (else the fuzzer starts from
/// refusals): regenerate them with `just fuzz-seeds` when this fails.
#[test]
fn the_committed_fuzz_seeds_are_valid_inputs() {
    let seeds = |target: &str| {
        let dir = repo("fuzz/seeds").join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds in {}", dir.display());
        files
    };
    fn stale(p: &Path, e: &dyn std::fmt::Display) -> ! {
        panic!(
            "{} is no longer a valid input ({e}): run `just fuzz-seeds`",
            p.display()
        )
    }
    for p in seeds("policy_yaml") {
        fuzzing::policy_set(&read(&p)).unwrap_or_else(|e| stale(&p, &e));
    }
    for p in seeds("scenario") {
        fuzzing::scenario(&read(&p)).unwrap_or_else(|e| stale(&p, &e));
    }
    for p in seeds("drift_input") {
        fuzzing::drift_input(&read(&p)).unwrap_or_else(|e| stale(&p, &e));
    }
    for p in seeds("oci_layout") {
        fuzzing::oci_layout(&read(&p)).unwrap_or_else(|e| stale(&p, &e));
    }
    let b = bench();
    for p in seeds("bundle_json") {
        if b.verdict(&read(&p), b.digest) != exit::HOLDS {
            stale(&p, &"does not verify against the lab bench");
        }
    }
}

/// Writes `fuzz/seeds/<target>/`: the repository's own policies, scenarios
/// and drift example, and the generated lab bundles and OCI layout inputs.
#[test]
#[ignore = "writes fuzz/seeds; run with `just fuzz-seeds`"]
fn write_fuzz_seeds() {
    let b = bench();
    let sets: Vec<(&str, Seeds)> = vec![
        ("policy_yaml", policy_seeds()),
        ("scenario", scenario_seeds()),
        ("drift_input", drift_seeds()),
        ("oci_layout", oci_seeds()),
        (
            "bundle_json",
            b.samples
                .iter()
                .map(|(n, j)| (format!("{n}.json"), j.clone()))
                .collect(),
        ),
    ];
    for (target, seeds) in sets {
        let dir = repo("fuzz/seeds").join(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).expect("write seed");
        }
    }
}
