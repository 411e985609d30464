//! YAML output byte-compatible with Kubernetes' `sigs.k8s.io/yaml` `JSONToYAML` (go-yaml v2).
//!
//! kubeadm serialises static pods and the KubeletConfiguration to JSON and converts that JSON to
//! YAML with go-yaml v2. That converter sorts mapping keys with go-yaml's "natural" order, never
//! indents sequences under their key, quotes strings that would read back as another type with
//! double quotes, falls back to single quotes where a plain scalar is not allowed, writes strings
//! containing line breaks as literal blocks and folds long scalars at spaces past column 80.
//! [`to_string`] reproduces that for any [`serde_json::Value`].

use std::cmp::Ordering;

use serde_json::Value;

/// libyaml's default preferred line width, used by go-yaml v2.
const BEST_WIDTH: usize = 80;
/// Indentation step of go-yaml v2.
const INDENT: usize = 2;

/// Serialise `value` as go-yaml v2 would after `JSONToYAML` (document ends with a newline).
pub fn to_string(value: &Value) -> String {
    let mut e = Emitter::default();
    e.node(value, 0, Ctx::Document);
    if !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    e.out
}

/// go-yaml v2's key order (`keyList.Less`): runs of digits compare numerically, letters sort
/// after non-letters, otherwise by code point.
pub fn key_cmp(a: &str, b: &str) -> Ordering {
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// Where a node is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Document,
    /// Value of a mapping key (`key: <here>`).
    MapValue,
    /// Item of a block sequence (`- <here>`).
    SeqItem,
}

#[derive(Default)]
struct Emitter {
    out: String,
    column: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            if c == '\n' {
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
        self.out.push_str(s);
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn indent_to(&mut self, indent: usize) {
        if self.column != 0 {
            self.newline();
        }
        for _ in 0..indent {
            self.out.push(' ');
        }
        self.column = indent;
    }

    /// Write `v` whose block content starts at `indent`.
    fn node(&mut self, v: &Value, indent: usize, ctx: Ctx) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by(|a, b| key_cmp(a, b));
                for (n, k) in keys.into_iter().enumerate() {
                    // The first key of a mapping that is a sequence item shares the dash's line.
                    if !(n == 0 && ctx == Ctx::SeqItem) {
                        self.indent_to(indent);
                    }
                    let child = &map[k];
                    if !is_simple_key(k) {
                        // libyaml writes long or multi-line keys as `? key` / `: value`.
                        self.put("? ");
                        self.scalar_str(k, indent + INDENT, false);
                        self.indent_to(indent);
                        self.put(":");
                        match child {
                            Value::Object(m) if !m.is_empty() => {
                                self.put(" ");
                                self.node(child, indent + INDENT, Ctx::SeqItem)
                            }
                            Value::Array(a) if !a.is_empty() => {
                                self.node(child, indent, Ctx::MapValue)
                            }
                            _ => {
                                self.put(" ");
                                self.node(child, indent, Ctx::MapValue);
                            }
                        }
                        continue;
                    }
                    self.scalar_str(k, indent, true);
                    self.put(":");
                    match child {
                        Value::Object(m) if !m.is_empty() => {
                            self.node(child, indent + INDENT, Ctx::MapValue)
                        }
                        // go-yaml v2 writes block sequences under a key without indentation.
                        Value::Array(a) if !a.is_empty() => self.node(child, indent, Ctx::MapValue),
                        _ => {
                            self.put(" ");
                            self.node(child, indent, Ctx::MapValue);
                        }
                    }
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (n, item) in items.iter().enumerate() {
                    if !(n == 0 && ctx == Ctx::SeqItem) {
                        self.indent_to(indent);
                    }
                    self.put("- ");
                    self.node(item, indent + INDENT, Ctx::SeqItem);
                }
            }
            Value::Object(_) => self.put("{}"),
            Value::Array(_) => self.put("[]"),
            Value::Null => self.put("null"),
            Value::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let s = format_number(n);
                self.put(&s);
            }
            Value::String(s) => {
                // A scalar's continuation lines are indented one step deeper than its key or dash
                // (libyaml increases the indent while writing a scalar).
                let scalar_indent = match ctx {
                    Ctx::Document => 0,
                    Ctx::MapValue => indent + INDENT,
                    Ctx::SeqItem => indent,
                };
                self.scalar_str(s, scalar_indent, false);
            }
        }
    }

    fn scalar_str(&mut self, s: &str, indent: usize, simple_key: bool) {
        let style = select_style(s, simple_key);
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.write_plain(s, indent, allow_breaks),
            Style::Single => self.write_single(s, indent, allow_breaks),
            Style::Double => self.write_double(s, indent, allow_breaks),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.indent_to(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
    }

    fn write_single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put("'");
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                    && !next_space
                {
                    self.indent_to(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put_char('\'');
                }
                self.put_char(c);
                spaces = false;
            }
        }
        self.put("'");
    }

    fn write_double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put("\"");
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                let esc = match c {
                    '\0' => "\\0".to_string(),
                    '\u{7}' => "\\a".to_string(),
                    '\u{8}' => "\\b".to_string(),
                    '\t' => "\\t".to_string(),
                    '\n' => "\\n".to_string(),
                    '\u{b}' => "\\v".to_string(),
                    '\u{c}' => "\\f".to_string(),
                    '\r' => "\\r".to_string(),
                    '\u{1b}' => "\\e".to_string(),
                    '"' => "\\\"".to_string(),
                    '\\' => "\\\\".to_string(),
                    '\u{85}' => "\\N".to_string(),
                    '\u{a0}' => "\\_".to_string(),
                    '\u{2028}' => "\\L".to_string(),
                    '\u{2029}' => "\\P".to_string(),
                    c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.put(&esc);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                {
                    self.indent_to(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put("\\");
                    }
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
        self.put("\"");
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        let mut hints = String::from("|");
        let first = s.chars().next();
        if matches!(first, Some(' ') | Some('\n')) {
            hints.push_str(&INDENT.to_string());
        }
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
            "+"
        } else {
            ""
        };
        hints.push_str(chomp);
        self.put(&hints);
        self.newline();
        let mut at_line_start = true;
        for c in s.chars() {
            if c == '\n' {
                self.newline();
                at_line_start = true;
            } else {
                if at_line_start {
                    for _ in 0..indent {
                        self.out.push(' ');
                    }
                    self.column = indent;
                    at_line_start = false;
                }
                self.put_char(c);
            }
        }
    }

    fn put_char(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// go-yaml's `is_printable` (stricter than libyaml's: NEL and characters above U+FFFF count as
/// non-printable and are escaped).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

/// libyaml's `check_simple_key` for a scalar key: single-line and at most 128 bytes.
fn is_simple_key(k: &str) -> bool {
    k.len() <= 128 && !analyze(k).line_breaks
}

/// The scalar style go-yaml v2 + libyaml pick for the string `s`.
fn select_style(s: &str, simple_key: bool) -> Style {
    if s.contains('\n') && !simple_key {
        // go-yaml asks for a literal block; libyaml downgrades it when a block is not allowed.
        let a = analyze(s);
        return if a.block_allowed {
            Style::Literal
        } else {
            Style::Double
        };
    }
    if !resolves_to_str(s) || is_base60_float(s) {
        return Style::Double;
    }
    let a = analyze(s);
    let mut style = Style::Plain;
    if !a.block_plain_allowed || (s.is_empty() && simple_key) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    style
}

struct Analysis {
    line_breaks: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// libyaml's `yaml_emitter_analyze_scalar`, block context only.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            line_breaks: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = false;
    let mut special = false;
    let mut line_breaks = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_indicators = true;
    }
    let blankz = |c: Option<&char>| {
        matches!(c, None | Some(' ') | Some('\t')) || c.is_some_and(|c| is_break(*c))
    };
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = blankz(chars.get(i + 1));
        let first = i == 0;
        let last = i == chars.len() - 1;
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' if followed_by_whitespace => block_indicators = true,
                '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) || c == '\u{feff}' {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if first {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            if first {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = blankz(Some(&c));
    }
    let mut a = Analysis {
        line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// True when go-yaml v2's `resolve("", s)` gives `!!str`, i.e. `s` written plain reads back as
/// the same string.
fn resolves_to_str(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null",
        "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF",
    ];
    if SPECIAL.contains(&s) {
        return false;
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => !is_go_float(s),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return false;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if is_go_int(&plain) || is_yaml_style_float(&plain) {
                return false;
            }
            let unsigned = plain.strip_prefix('-').unwrap_or(&plain);
            if let Some(bin) = unsigned.strip_prefix("0b") {
                if !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1') {
                    return false;
                }
            }
            true
        }
        _ => true,
    }
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint` would succeed (range checks approximated by u64).
fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let (digits, radix) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (h, 16)
        } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (o, 8)
        } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (b, 2)
        } else if body.len() > 1 && body.starts_with('0') {
            (&body[1..], 8)
        } else {
            (body, 10)
        };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseFloat(s, 64)` for strings starting with `.` (decimal forms only).
fn is_go_float(s: &str) -> bool {
    is_yaml_style_float(s)
}

/// go-yaml v2's `parseTimestamp`: `YYYY-M-D`, optionally followed by `T`/`t`/space and a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i != 4 || i == b.len() || b[i] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(p) => (&rest[..p], Some(&rest[p + 1..])),
        None => (rest, None),
    };
    let mut dp = date.split('-');
    let (Some(m), Some(d), None) = (dp.next(), dp.next(), dp.next()) else {
        return false;
    };
    let num12 = |x: &str| (1..=2).contains(&x.len()) && x.bytes().all(|c| c.is_ascii_digit());
    if !num12(m) || !num12(d) {
        return false;
    }
    let (Ok(m), Ok(d)) = (m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return false;
    }
    match time {
        None => true,
        Some(t) => {
            let t = t.trim_end_matches('Z');
            let t = match t.rfind(['+', '-']) {
                Some(p) if p > 0 => &t[..p],
                _ => t,
            };
            let t = t.split('.').next().unwrap_or("");
            let parts: Vec<&str> = t.split(':').collect();
            parts.len() == 3 && parts.iter().all(|p| num12(p))
        }
    }
}

fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !(b[0] == b'+' || b[0] == b'-' || b[0].is_ascii_digit()) || !s.contains(':')
    {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = match body.find('.') {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    if let Some(f) = frac {
        if !f.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
            return false;
        }
    }
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    if head.is_empty()
        || !head.as_bytes()[0].is_ascii_digit()
        || !head.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    let mut n = 0;
    for p in parts {
        n += 1;
        let ok = match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    n > 0
}

/// Format a JSON number as go-yaml v2 does after reading it back from JSON: integers as is,
/// floats with `strconv.FormatFloat(f, 'g', -1, 64)`.
fn format_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    format_go_float(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest round-trip digits, e.g. "1.2345e6".
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let nd = digits.len() as i32;
    // Go: with the shortest precision, %e is used if exp < -4 || exp >= 6.
    let dp = exp + 1;
    let eprec = 6;
    let sign = if neg { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (d0, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{d0}{frac}e{esign}{:02}", exp.abs())
    } else if dp <= 0 {
        format!("{sign}0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp >= nd {
        format!("{sign}{}{}", digits, "0".repeat((dp - nd) as usize))
    } else {
        let (a, b) = digits.split_at(dp as usize);
        format!("{sign}{a}.{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_is_go_yaml_natural_order() {
        let mut keys = vec!["b", "a10", "a2", "A", "_x", "a-b", "ab", "a"];
        keys.sort_by(|a, b| key_cmp(a, b));
        assert_eq!(keys, vec!["_x", "A", "a", "a-b", "a2", "a10", "ab", "b"]);
    }

    #[test]
    fn quoting_matches_go_yaml() {
        let v = json!({
            "empty": "", "zero": "0", "bool": "true", "y": "y", "ver": "1.36", "plain": "registry.k8s.io/pause:3.10.2",
            "ipv6": "[fd00::2]:6443", "star": "*", "colon": "a: b", "hash": "a #b", "ts": "2026-11-25",
            "b60": "1:20", "dash": "- x", "q": "it's", "tab": "a\tb", "oct": "0755", "hex": "0x1F", "ipv4": "192.0.2.2"
        });
        let out = to_string(&v);
        let expected = "b60: \"1:20\"\nbool: \"true\"\ncolon: 'a: b'\ndash: '- x'\nempty: \"\"\nhash: 'a #b'\nhex: \"0x1F\"\n\
ipv4: 192.0.2.2\nipv6: '[fd00::2]:6443'\noct: \"0755\"\nplain: registry.k8s.io/pause:3.10.2\nq: it's\nstar: '*'\n\
tab: \"a\\tb\"\nts: \"2026-11-25\"\nver: \"1.36\"\n\"y\": \"y\"\nzero: \"0\"\n";
        assert_eq!(out, expected);
    }

    #[test]
    fn nesting_and_empty_collections() {
        let v =
            json!({"a": {"b": [{"c": 1, "d": [1, 2]}, []], "e": {}}, "f": [], "g": null, "h": 0.5});
        let out = to_string(&v);
        assert_eq!(out, "a:\n  b:\n  - c: 1\n    d:\n    - 1\n    - 2\n  - []\n  e: {}\nf: []\ng: null\nh: 0.5\n");
    }

    #[test]
    fn literal_blocks_and_folding() {
        let v = json!({"s": "line1\nline2\n", "t": "x\n\ny", "u": "\n"});
        assert_eq!(
            to_string(&v),
            "s: |\n  line1\n  line2\nt: |-\n  x\n\n  y\nu: |2+\n\n"
        );
        let long = "word ".repeat(30).trim_end().to_string();
        let out = to_string(&json!({ "k": long }));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 1, "{out}");
        assert!(lines[1].starts_with("  word"), "{out}");
        assert_eq!(out.replace("\n  ", " "), format!("k: {long}\n"));
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(format_go_float(0.5), "0.5");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(123456789.0), "1.23456789e+08");
        assert_eq!(format_go_float(100.0), "100");
        assert_eq!(format_go_float(0.00001), "1e-05");
        assert_eq!(format_go_float(1.5), "1.5");
    }
}
