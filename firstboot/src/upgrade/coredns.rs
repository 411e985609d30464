//! Keeping the user's Corefile across a CoreDNS upgrade as kubeadm does (spec §11.1 "ConfigMap
//! create/update rule" and "Upgrade", §14.3 `CoreDNSUnsupportedPlugins` / `CoreDNSMigration`).
//! Pure decisions plus one read ([`installed`]); nothing is written here: the add-on phase
//! applies the [`CorefileDecision`].
//!
//! kubeadm delegates to github.com/coredns/corefile-migration; this module reimplements the part
//! of it kubeadm uses — `Default`, `Deprecated`, `Unsupported`, `Migrate` (without deprecations) —
//! with the library's own Corefile model (server blocks → plugins → options, three levels) and
//! printer (4-space indents), and the subset of its release table that covers the CoreDNS
//! versions shipped with Kubernetes 1.33–1.37 (v1.12.x → v1.13.x → v1.14.x). Sources:
//! `migration/migrate.go`, `migration/corefile/corefile.go`, `migration/plugins.go` and
//! `migration/versions.go` of github.com/coredns/corefile-migration, and its PRs #86 (1.12.0,
//! adds forward `next`), #89 (1.12.1, forward `failfast_all_unhealthy_upstreams`), #91/#92
//! (1.12.2/1.12.3: "no migrations needed") and #99 (1.14.x patches reuse the 1.14.0 rules). No
//! plugin or option is deprecated, removed or a new default between 1.12.0 and 1.14.2, so a
//! customised Corefile is kept unchanged on these upgrades; the rule engine still implements
//! every status and action the library has, so older starting points or later table entries
//! behave as in the library.

use std::fmt;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;

use crate::kube::Cluster;
use crate::phases::preflight::apply_ignore;
use crate::phases::{CheckOutcome, PlanItem};

/// Check name: plugins/options the migration does not know.
pub const CHECK_UNSUPPORTED_PLUGINS: &str = "CoreDNSUnsupportedPlugins";
/// Check name: the Corefile can be migrated to the target version.
pub const CHECK_MIGRATION: &str = "CoreDNSMigration";
/// Name of the `kube-system` ConfigMap holding the Corefile.
pub const COREDNS_CONFIGMAP: &str = "coredns";

/// Errors of Corefile parsing and migration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorefileError {
    /// The Corefile text cannot be parsed.
    #[error("Corefile line {line}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The starting CoreDNS version is not in the migration table.
    #[error("start version '{0}' not supported")]
    UnsupportedVersion(String),
    /// The target version cannot be reached from the starting one.
    #[error("cannot migrate up to '{to}' from '{from}'")]
    NoPath {
        /// Starting version.
        from: String,
        /// Target version.
        to: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Corefile model, parser and printer
// ---------------------------------------------------------------------------------------------

/// A parsed Corefile: server blocks in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Corefile {
    /// Server blocks.
    pub servers: Vec<Server>,
}

/// One server block (`.:53 { ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Server {
    /// Zones/ports before the block (`.:53`, `example.org:53`).
    pub keys: Vec<String>,
    /// Plugins in order.
    pub plugins: Vec<Plugin>,
}

/// One plugin line with its arguments and optional block of options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plugin {
    /// Plugin name (`forward`).
    pub name: String,
    /// Arguments on the plugin line (`.`, `/etc/resolv.conf`).
    pub args: Vec<String>,
    /// Lines of the plugin's block.
    pub options: Vec<PluginOption>,
}

/// One line inside a plugin block (`max_concurrent 1000`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginOption {
    /// First word.
    pub name: String,
    /// Remaining words.
    pub args: Vec<String>,
}

const INDENT: usize = 4;

fn quote(t: &str) -> String {
    let plain = !t.is_empty()
        && !t
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '{' | '}' | '#'));
    if plain {
        t.to_string()
    } else {
        format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn words(first: &str, rest: &[String]) -> String {
    std::iter::once(quote(first))
        .chain(rest.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for Corefile {
    /// corefile-migration's `ToString`: blocks joined by a newline, 4-space indents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.servers {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self.keys.iter().map(|k| quote(k)).collect();
        write!(f, "{}", keys.join(" "))?;
        if !self.plugins.is_empty() {
            writeln!(f, " {{")?;
            for p in &self.plugins {
                writeln!(f, "{}{p}", " ".repeat(INDENT))?;
            }
            writeln!(f, "}}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", words(&self.name, &self.args))?;
        if !self.options.is_empty() {
            writeln!(f, " {{")?;
            for o in &self.options {
                writeln!(f, "{}{}", " ".repeat(INDENT * 2), words(&o.name, &o.args))?;
            }
            write!(f, "{}}}", " ".repeat(INDENT))?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Token {
    text: String,
    line: usize,
    /// `{`/`}` written bare (a quoted "{" is an ordinary word).
    brace: bool,
}

/// Caddyfile lexing as CoreDNS does it: words split on whitespace, `#` comments to the end of
/// the line, double-quoted words with `\"` escapes, `{`/`}` as separate words.
fn tokenize(text: &str) -> Result<Vec<Token>, CorefileError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        if c == '\n' {
            line += 1;
            chars.next();
        } else if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            while let Some(&c) = chars.peek() {
                if c == '\n' {
                    break;
                }
                chars.next();
            }
        } else if c == '"' {
            chars.next();
            let start = line;
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => {
                        return Err(CorefileError::Parse {
                            line: start,
                            message: "unterminated quoted string".into(),
                        })
                    }
                    Some('\\') if matches!(chars.peek(), Some('"') | Some('\\')) => {
                        s.push(chars.next().unwrap_or_default())
                    }
                    Some('"') => break,
                    Some(c) => {
                        if c == '\n' {
                            line += 1;
                        }
                        s.push(c)
                    }
                }
            }
            out.push(Token {
                text: s,
                line: start,
                brace: false,
            });
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            let brace = s == "{" || s == "}";
            out.push(Token {
                text: s,
                line,
                brace,
            });
        }
    }
    Ok(out)
}

impl Corefile {
    /// Parses a Corefile into corefile-migration's three-level model. Blocks nested deeper than
    /// a plugin's options are refused (the library would drop them silently).
    pub fn parse(text: &str) -> Result<Corefile, CorefileError> {
        let tokens = tokenize(text)?;
        let mut cf = Corefile::default();
        let mut depth = 0usize;
        let mut i = 0;
        while i < tokens.len() {
            let t = &tokens[i];
            i += 1;
            if t.brace && t.text == "{" {
                depth += 1;
                if depth > 2 {
                    return Err(CorefileError::Parse {
                        line: t.line,
                        message: "blocks nested inside plugin options are not supported".into(),
                    });
                }
                continue;
            }
            if t.brace && t.text == "}" {
                depth = depth.checked_sub(1).ok_or_else(|| CorefileError::Parse {
                    line: t.line,
                    message: "unexpected '}'".into(),
                })?;
                continue;
            }
            let mut args = Vec::new();
            while i < tokens.len() && tokens[i].line == t.line && !tokens[i].brace {
                args.push(tokens[i].text.clone());
                i += 1;
            }
            let missing = |what: &str| CorefileError::Parse {
                line: t.line,
                message: format!("{what} {:?} outside a block", t.text),
            };
            match depth {
                0 => cf.servers.push(Server {
                    keys: std::iter::once(t.text.clone()).chain(args).collect(),
                    plugins: Vec::new(),
                }),
                1 => cf
                    .servers
                    .last_mut()
                    .ok_or_else(|| missing("plugin"))?
                    .plugins
                    .push(Plugin {
                        name: t.text.clone(),
                        args,
                        options: Vec::new(),
                    }),
                _ => cf
                    .servers
                    .last_mut()
                    .and_then(|s| s.plugins.last_mut())
                    .ok_or_else(|| missing("option"))?
                    .options
                    .push(PluginOption {
                        name: t.text.clone(),
                        args,
                    }),
            }
        }
        if depth != 0 {
            return Err(CorefileError::Parse {
                line: tokens.last().map(|t| t.line).unwrap_or(1),
                message: "missing '}'".into(),
            });
        }
        Ok(cf)
    }
}

// ---------------------------------------------------------------------------------------------
// Migration table
// ---------------------------------------------------------------------------------------------

/// corefile-migration's severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Still works; migrated only once removed or ignored.
    Deprecated,
    /// No longer accepted by CoreDNS.
    Removed,
    /// Accepted but has no effect.
    Ignored,
    /// Added to the default configuration in this version.
    NewDefault,
    /// Not known to the migration table.
    Unsupported,
}

impl Severity {
    /// The library's string (`removed`, `newdefault`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Deprecated => "deprecated",
            Severity::Removed => "removed",
            Severity::Ignored => "ignored",
            Severity::NewDefault => "newdefault",
            Severity::Unsupported => "unsupported",
        }
    }
}

/// What migrating an option does.
// The 1.12–1.14 table has no such rule; kept for the library's full rule set (tested).
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OptionAction {
    Remove,
    FirstArgumentOnly,
}

/// What migrating a plugin does.
// The 1.12–1.14 table has no such rule; kept for the library's full rule set (tested).
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PluginAction {
    Remove,
    Rename(&'static str),
}

/// Where a new default plugin is added.
// The 1.12–1.14 table has no such rule; kept for the library's full rule set (tested).
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddTo {
    /// Server blocks containing one of these plugins (all blocks when empty).
    BlocksWith(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
struct OptionRule {
    name: &'static str,
    status: Option<Severity>,
    action: Option<OptionAction>,
    /// For [`Severity::NewDefault`]: the option line added when missing.
    add: Option<&'static str>,
}

const fn opt(name: &'static str) -> OptionRule {
    OptionRule {
        name,
        status: None,
        action: None,
        add: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    /// `\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}` (unanchored, as Go's `regexp.MatchString`).
    Ipv4,
    /// `[0-9A-Fa-f]{1,4}:[:0-9A-Fa-f]+:[0-9A-Fa-f]{1,4}` (unanchored).
    Ipv6,
}

impl Pattern {
    fn matches(self, s: &str) -> bool {
        let b = s.as_bytes();
        match self {
            Pattern::Ipv4 => (0..b.len()).any(|start| ipv4_at(&b[start..])),
            Pattern::Ipv6 => (0..b.len()).any(|start| ipv6_at(&b[start..])),
        }
    }
}

fn ipv4_at(b: &[u8]) -> bool {
    let mut i = 0;
    for group in 0..4 {
        let n = b[i..]
            .iter()
            .take(3)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n == 0 {
            return false;
        }
        i += n;
        if group < 3 {
            if b.get(i) != Some(&b'.') {
                return false;
            }
            i += 1;
        }
    }
    true
}

fn ipv6_at(b: &[u8]) -> bool {
    // Greedy middle with backtracking: [hex]{1,4} ':' [:hex]+ ':' [hex]{1,4}.
    let head = b
        .iter()
        .take(4)
        .take_while(|c| c.is_ascii_hexdigit())
        .count();
    (1..=head).any(|h| {
        if b.get(h) != Some(&b':') {
            return false;
        }
        let rest = &b[h + 1..];
        let mid = rest
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() || **c == b':')
            .count();
        (1..=mid).any(|m| {
            rest.get(m) == Some(&b':') && rest.get(m + 1).is_some_and(|c| c.is_ascii_hexdigit())
        })
    })
}

#[derive(Debug, Clone, Copy)]
struct PluginRule {
    name: &'static str,
    status: Option<Severity>,
    replaced_by: Option<&'static str>,
    action: Option<PluginAction>,
    options: &'static [OptionRule],
    patterns: &'static [Pattern],
    /// For [`Severity::NewDefault`]: the plugin line added and where.
    add: Option<(&'static str, AddTo)>,
}

const fn plugin(name: &'static str, options: &'static [OptionRule]) -> PluginRule {
    PluginRule {
        name,
        status: None,
        replaced_by: None,
        action: None,
        options,
        patterns: &[],
        add: None,
    }
}

#[derive(Debug, Clone, Copy)]
struct Release {
    version: &'static str,
    next: Option<&'static str>,
    plugins: &'static [PluginRule],
    /// Default Corefile template with wildcards (`*` one word, `***` the rest of the line).
    default_conf: Option<&'static str>,
}

/// A migration table (the production one is [`TABLE`]).
#[derive(Debug, Clone, Copy)]
struct Table(&'static [Release]);

impl Table {
    fn get(&self, v: &str) -> Option<&Release> {
        self.0.iter().find(|r| r.version == v)
    }

    fn valid_up(&self, from: &str, to: &str) -> Result<(), CorefileError> {
        let start = self
            .get(from)
            .ok_or_else(|| CorefileError::UnsupportedVersion(from.to_string()))?;
        if from == to {
            return Ok(());
        }
        let mut next = start.next;
        while let Some(n) = next {
            if n == to {
                return Ok(());
            }
            next = self.get(n).and_then(|r| r.next);
        }
        Err(CorefileError::NoPath {
            from: from.to_string(),
            to: to.to_string(),
        })
    }

    /// The versions a migration from `from` to `to` steps through (`[from]` when equal).
    fn steps(&self, from: &str, to: &str) -> Result<Vec<&Release>, CorefileError> {
        self.valid_up(from, to)?;
        let mut out = Vec::new();
        let mut v = self
            .get(from)
            .ok_or_else(|| CorefileError::UnsupportedVersion(from.into()))?;
        if from == to {
            return Ok(vec![v]);
        }
        while let Some(n) = v.next {
            v = self
                .get(n)
                .ok_or_else(|| CorefileError::UnsupportedVersion(n.into()))?;
            out.push(v);
            if n == to {
                break;
            }
        }
        Ok(out)
    }
}

impl Release {
    fn plugin(&self, name: &str) -> Option<&PluginRule> {
        self.plugins.iter().find(|p| p.name == name)
    }
}

impl PluginRule {
    fn option(&self, name: &str) -> Option<OptionRule> {
        if let Some(o) = self.options.iter().find(|o| o.name == name) {
            return Some(*o);
        }
        self.patterns
            .iter()
            .any(|p| p.matches(name))
            .then(|| opt("pattern"))
    }
}

const KUBERNETES_V8: &[OptionRule] = &[
    OptionRule {
        name: "endpoint",
        status: Some(Severity::Ignored),
        action: Some(OptionAction::FirstArgumentOnly),
        add: None,
    },
    opt("tls"),
    opt("kubeconfig"),
    opt("namespaces"),
    opt("labels"),
    opt("pods"),
    opt("endpoint_pod_names"),
    opt("ttl"),
    opt("noendpoints"),
    opt("fallthrough"),
    opt("ignore"),
];

/// forward with `next` (1.12.0) and `failfast_all_unhealthy_upstreams` (1.12.1).
const FORWARD_V5: &[OptionRule] = &[
    opt("except"),
    opt("force_tcp"),
    opt("prefer_udp"),
    opt("expire"),
    opt("max_fails"),
    opt("tls"),
    opt("tls_servername"),
    opt("policy"),
    opt("health_check"),
    opt("max_concurrent"),
    opt("next"),
    opt("failfast_all_unhealthy_upstreams"),
];

const CACHE_V3: &[OptionRule] = &[
    opt("success"),
    opt("denial"),
    opt("prefetch"),
    opt("serve_stale"),
    opt("servfail"),
    opt("disable"),
    opt("keepttl"),
];

const HOSTS_V1: PluginRule = PluginRule {
    patterns: &[Pattern::Ipv4, Pattern::Ipv6],
    ..plugin(
        "hosts",
        &[
            opt("ttl"),
            opt("no_reverse"),
            opt("reload"),
            opt("fallthrough"),
        ],
    )
};

/// The plugins the library knows for CoreDNS 1.12.0–1.14.x: none deprecated, removed or new.
const PLUGINS_1_12: &[PluginRule] = &[
    plugin("errors", &[opt("consolidate"), opt("stacktrace")]),
    plugin("log", &[opt("class")]),
    plugin("health", &[opt("lameduck")]),
    plugin("ready", &[]),
    plugin("autopath", &[]),
    plugin("kubernetes", KUBERNETES_V8),
    plugin(
        "k8s_external",
        &[opt("apex"), opt("ttl"), opt("headless"), opt("fallthrough")],
    ),
    plugin("prometheus", &[]),
    plugin("forward", FORWARD_V5),
    plugin("cache", CACHE_V3),
    plugin("loop", &[]),
    plugin("reload", &[]),
    plugin("loadbalance", &[]),
    HOSTS_V1,
    plugin(
        "rewrite",
        &[
            opt("type"),
            opt("class"),
            opt("name"),
            opt("answer name"),
            opt("edns0"),
            opt("ttl"),
        ],
    ),
    plugin("transfer", &[opt("to")]),
];

/// The Kubernetes default Corefile template since CoreDNS 1.7.0 (corefile-migration).
const DEFAULT_1_7: &str = ".:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes * *** {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    forward . * {
        max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}";

/// kubeadm's default since the `cache` block that disables caching of the cluster domain
/// (spec §11.1, Kubernetes ≥1.32, CoreDNS ≥1.11.3).
const DEFAULT_CACHE_DISABLE: &str = ".:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes * *** {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    forward . * {
        max_concurrent 1000
    }
    cache 30 {
        disable success *
        disable denial *
    }
    loop
    reload
    loadbalance
}";

const fn release(
    version: &'static str,
    next: Option<&'static str>,
    default_conf: Option<&'static str>,
) -> Release {
    Release {
        version,
        next,
        plugins: PLUGINS_1_12,
        default_conf,
    }
}

/// CoreDNS releases shipped with Kubernetes 1.33 (v1.12.0) to 1.37 (v1.14.2), with their
/// patch releases in between.
const TABLE: Table = Table(&[
    release("1.12.0", Some("1.12.1"), Some(DEFAULT_1_7)),
    release("1.12.1", Some("1.12.2"), Some(DEFAULT_CACHE_DISABLE)),
    release("1.12.2", Some("1.12.3"), None),
    release("1.12.3", Some("1.12.4"), None),
    release("1.12.4", Some("1.13.0"), None),
    release("1.13.0", Some("1.13.1"), None),
    release("1.13.1", Some("1.13.2"), Some(DEFAULT_CACHE_DISABLE)),
    release("1.13.2", Some("1.14.0"), None),
    release("1.14.0", Some("1.14.1"), None),
    release("1.14.1", Some("1.14.2"), None),
    release("1.14.2", None, Some(DEFAULT_CACHE_DISABLE)),
]);

/// CoreDNS versions the migration table knows, oldest first (without `v`).
pub fn known_versions() -> Vec<&'static str> {
    TABLE.0.iter().map(|r| r.version).collect()
}

// ---------------------------------------------------------------------------------------------
// Library functions
// ---------------------------------------------------------------------------------------------

/// One finding of [`deprecated`] or [`unsupported`] (corefile-migration's `Notice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Plugin name.
    pub plugin: String,
    /// Option name, when the notice is about an option.
    pub option: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// CoreDNS version the notice applies to.
    pub version: String,
    /// Replacement plugin.
    pub replaced_by: Option<String>,
}

impl fmt::Display for Notice {
    /// The library's `ToString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.option {
            Some(o) => write!(f, "Option \"{o}\" in plugin \"{}\" ", self.plugin)?,
            None => write!(f, "Plugin \"{}\" ", self.plugin)?,
        }
        match self.severity {
            Severity::Unsupported => write!(
                f,
                "is unsupported by this migration tool in {}.",
                self.version
            )?,
            Severity::NewDefault => write!(f, "is added as a default in {}.", self.version)?,
            s => write!(f, "is {} in {}.", s.as_str(), self.version)?,
        }
        if let Some(r) = &self.replaced_by {
            write!(f, " It is replaced by \"{r}\".")?;
        }
        Ok(())
    }
}

fn norm(v: &str) -> &str {
    v.trim().trim_start_matches('v')
}

fn status_notices(
    table: &Table,
    from: &str,
    to: &str,
    corefile: &str,
    unsupported: bool,
) -> Result<Vec<Notice>, CorefileError> {
    let (from, to) = (norm(from), norm(to));
    let steps = table.steps(from, to)?;
    let cf = Corefile::parse(corefile)?;
    let mut out = Vec::new();
    for r in steps {
        let v = r.version.to_string();
        let notice =
            |plugin: &str, option: Option<&str>, severity, replaced_by: Option<&str>| Notice {
                plugin: plugin.to_string(),
                option: option.map(str::to_string),
                severity,
                version: v.clone(),
                replaced_by: replaced_by.map(str::to_string),
            };
        for s in &cf.servers {
            for p in &s.plugins {
                let Some(vp) = r.plugin(&p.name) else {
                    if unsupported {
                        out.push(notice(&p.name, None, Severity::Unsupported, None));
                    }
                    continue;
                };
                if let Some(st) = vp.status.filter(|s| *s != Severity::NewDefault) {
                    if !unsupported {
                        out.push(notice(&p.name, None, st, vp.replaced_by));
                        continue;
                    }
                }
                for o in &p.options {
                    match vp.option(&o.name) {
                        None if unsupported => {
                            out.push(notice(&p.name, Some(&o.name), Severity::Unsupported, None))
                        }
                        Some(vo) if !unsupported => {
                            if let Some(st) = vo.status.filter(|s| *s != Severity::NewDefault) {
                                out.push(notice(&p.name, Some(&o.name), st, None));
                            }
                        }
                        _ => {}
                    }
                }
                if !unsupported {
                    for vo in vp.options {
                        if vo.status == Some(Severity::NewDefault)
                            && !p.options.iter().any(|o| o.name == vo.name)
                        {
                            out.push(notice(&p.name, Some(vo.name), Severity::NewDefault, None));
                        }
                    }
                }
            }
            if !unsupported {
                for vp in r.plugins {
                    if vp.status == Some(Severity::NewDefault)
                        && !s.plugins.iter().any(|p| p.name == vp.name)
                    {
                        out.push(notice(vp.name, None, Severity::NewDefault, None));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn migrate_with(
    table: &Table,
    from: &str,
    to: &str,
    corefile: &str,
) -> Result<String, CorefileError> {
    let (from, to) = (norm(from), norm(to));
    if from == to {
        return Ok(corefile.to_string());
    }
    let steps = table.steps(from, to)?;
    let mut cf = Corefile::parse(corefile)?;
    for r in steps {
        let mut servers = Vec::new();
        for s in cf.servers {
            let mut plugins = Vec::new();
            for p in &s.plugins {
                let Some(vp) = r.plugin(&p.name) else {
                    plugins.push(p.clone());
                    continue;
                };
                if vp.status == Some(Severity::Deprecated) {
                    plugins.push(p.clone());
                    continue;
                }
                let mut options = Vec::new();
                for o in &p.options {
                    let Some(vo) = vp.option(&o.name) else {
                        options.push(o.clone());
                        continue;
                    };
                    match (vo.status, vo.action) {
                        (Some(Severity::Deprecated), _) | (_, None) => options.push(o.clone()),
                        (_, Some(OptionAction::Remove)) => {}
                        (_, Some(OptionAction::FirstArgumentOnly)) => {
                            let mut o = o.clone();
                            o.args.truncate(1);
                            options.push(o);
                        }
                    }
                }
                let name = match vp.action {
                    Some(PluginAction::Remove) => continue,
                    Some(PluginAction::Rename(to)) => to.to_string(),
                    None => p.name.clone(),
                };
                let mut np = Plugin {
                    name,
                    args: p.args.clone(),
                    options,
                };
                for vo in vp.options {
                    if vo.status == Some(Severity::NewDefault)
                        && !p.options.iter().any(|o| o.name == vo.name)
                    {
                        if let Some(line) = vo.add {
                            let mut w = line.split_whitespace().map(str::to_string);
                            np.options.push(PluginOption {
                                name: w.next().unwrap_or_default(),
                                args: w.collect(),
                            });
                        }
                    }
                }
                plugins.push(np);
            }
            let mut ns = Server {
                keys: s.keys.clone(),
                plugins,
            };
            for vp in r.plugins {
                if vp.status != Some(Severity::NewDefault)
                    || s.plugins.iter().any(|p| p.name == vp.name)
                {
                    continue;
                }
                if let Some((line, AddTo::BlocksWith(with))) = vp.add {
                    if with.is_empty() || ns.plugins.iter().any(|p| with.contains(&p.name.as_str()))
                    {
                        let mut w = line.split_whitespace().map(str::to_string);
                        ns.plugins.push(Plugin {
                            name: w.next().unwrap_or_default(),
                            args: w.collect(),
                            options: Vec::new(),
                        });
                    }
                }
            }
            servers.push(ns);
        }
        cf = Corefile { servers };
    }
    Ok(cf.to_string())
}

fn word_matches(template: &[String], actual: &[String]) -> bool {
    for (i, t) in template.iter().enumerate() {
        match t.as_str() {
            "*" => {}
            "***" => return true,
            _ if actual.get(i) != Some(t) => return false,
            _ => {}
        }
    }
    template.len() == actual.len()
}

fn matches_default(cf: &Corefile, def: &Corefile) -> bool {
    cf.servers.len() == def.servers.len()
        && cf.servers.iter().all(|s| {
            def.servers
                .iter()
                .find(|d| word_matches(&d.keys, &s.keys))
                .is_some_and(|d| {
                    s.plugins.len() == d.plugins.len()
                        && s.plugins.iter().all(|p| {
                            d.plugins
                                .iter()
                                .find(|dp| dp.name == p.name && word_matches(&dp.args, &p.args))
                                .is_some_and(|dp| {
                                    p.options.len() == dp.options.len()
                                        && p.options.iter().all(|o| {
                                            dp.options.iter().any(|dopt| {
                                                dopt.name == o.name
                                                    && word_matches(&dopt.args, &o.args)
                                            })
                                        })
                                })
                        })
                })
        })
}

/// corefile-migration's `Default("", corefile)`: whether `corefile` is a Kubernetes default
/// Corefile of any known release (server blocks, plugins and options in any order; arguments
/// in order; the dnsDomain and upstream are wildcards).
pub fn is_default(corefile: &str) -> bool {
    is_default_with(&TABLE, corefile)
}

fn is_default_with(table: &Table, corefile: &str) -> bool {
    let Ok(cf) = Corefile::parse(corefile) else {
        return false;
    };
    table
        .0
        .iter()
        .filter_map(|r| r.default_conf)
        .filter_map(|d| Corefile::parse(d).ok())
        .any(|d| matches_default(&cf, &d))
}

/// corefile-migration's `Deprecated`: deprecated, removed and ignored plugins/options in
/// `corefile`, and new defaults a migration from `from` to `to` would add.
pub fn deprecated(from: &str, to: &str, corefile: &str) -> Result<Vec<Notice>, CorefileError> {
    status_notices(&TABLE, from, to, corefile, false)
}

/// corefile-migration's `Unsupported`: plugins/options of `corefile` the migration table does
/// not know for the versions from `from` (exclusive) to `to` — they are kept as they are by a
/// migration, with no guarantee they work in the new CoreDNS.
pub fn unsupported_plugins(
    from: &str,
    to: &str,
    corefile: &str,
) -> Result<Vec<Notice>, CorefileError> {
    status_notices(&TABLE, from, to, corefile, true)
}

/// corefile-migration's `Migrate(from, to, corefile, false)`: the Corefile converted to `to`
/// (printed in the library's format), or why it cannot be.
pub fn migrate(from: &str, to: &str, corefile: &str) -> Result<String, CorefileError> {
    migrate_with(&TABLE, from, to, corefile)
}

/// What to do with the `coredns` ConfigMap's Corefile on an upgrade (spec §11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorefileDecision {
    /// The Corefile is absent, empty or a known default: create-or-update with the new default.
    Replace(String),
    /// The user's Corefile needs a migration: update the ConfigMap to
    /// `{Corefile: corefile, Corefile-backup: backup}` and mount `Corefile-backup` until the
    /// Deployment update points CoreDNS back at `Corefile`.
    Migrate {
        /// The migrated Corefile.
        corefile: String,
        /// The user's Corefile, unchanged.
        backup: String,
    },
    /// Keep the user's Corefile (create-or-retain).
    Keep {
        /// Why.
        reason: String,
        /// True when kubeadm logs this as a warning (migration needed but impossible).
        warning: bool,
    },
}

/// kubeadm's Corefile rule for an upgrade from CoreDNS `from` (the deployed image tag; `""` on
/// init) to `to`, given the current Corefile and the new default. Versions may carry a `v`.
pub fn plan_corefile(
    current: Option<&str>,
    from: &str,
    to: &str,
    new_default: &str,
) -> CorefileDecision {
    plan_with(&TABLE, current, from, to, new_default)
}

fn plan_with(
    table: &Table,
    current: Option<&str>,
    from: &str,
    to: &str,
    new_default: &str,
) -> CorefileDecision {
    let corefile = current.unwrap_or_default();
    if corefile.trim().is_empty() || is_default_with(table, corefile) {
        return CorefileDecision::Replace(new_default.to_string());
    }
    if norm(from).is_empty() {
        return CorefileDecision::Keep {
            reason: "no CoreDNS is installed yet; the existing Corefile is kept".into(),
            warning: false,
        };
    }
    let changes = match status_notices(table, from, to, corefile, false) {
        Ok(c) => c,
        Err(e @ CorefileError::Parse { .. }) => {
            return CorefileDecision::Keep {
                reason: format!(
                    "the CoreDNS configuration will not be migrated: {e}; the existing CoreDNS Corefile configuration has been retained"
                ),
                warning: true,
            }
        }
        Err(e) => {
            return CorefileDecision::Keep {
                reason: format!(
                    "the CoreDNS configuration will not be migrated due to unsupported version of CoreDNS ({e}); the existing CoreDNS Corefile configuration and deployment have been retained"
                ),
                warning: true,
            }
        }
    };
    let required = changes
        .iter()
        .any(|n| matches!(n.severity, Severity::Removed | Severity::NewDefault));
    if !required {
        return CorefileDecision::Keep {
            reason: format!(
                "the Corefile is customised and needs no migration from CoreDNS {from} to {to}"
            ),
            warning: false,
        };
    }
    match migrate_with(table, from, to, corefile) {
        Ok(migrated) => CorefileDecision::Migrate {
            corefile: migrated,
            backup: corefile.to_string(),
        },
        Err(e) => CorefileDecision::Keep {
            reason: format!(
                "the CoreDNS Configuration was not migrated: unable to migrate CoreDNS ConfigMap: {e}. The existing CoreDNS Corefile configuration has been retained"
            ),
            warning: true,
        },
    }
}

/// The installed CoreDNS, as the upgrade preflight checks and the add-on phase see it
/// (kubeadm's `GetCoreDNSInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledCoreDns {
    /// The `coredns` ConfigMap's Corefile.
    pub corefile: String,
    /// The image tag of the Deployment labelled `k8s-app=kube-dns` (`v1.13.1`); empty when
    /// there is no such Deployment.
    pub version: String,
}

/// Reads the installed CoreDNS like kubeadm's `GetCoreDNSInfo`: `None` when the `kube-system`
/// ConfigMap `coredns` does not exist; an error when it has no `Corefile` key, when more than one
/// Deployment is labelled `k8s-app=kube-dns`, or when its image has no tag.
pub fn installed(cluster: &Cluster) -> anyhow::Result<Option<InstalledCoreDns>> {
    let Some(cm) = cluster.get::<ConfigMap>(Some("kube-system"), COREDNS_CONFIGMAP)? else {
        return Ok(None);
    };
    let corefile = cm
        .data
        .as_ref()
        .and_then(|d| d.get("Corefile"))
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "ConfigMap kube-system/{COREDNS_CONFIGMAP}: unable to find the CoreDNS Corefile data"
            )
        })?;
    let deployments =
        cluster.list::<Deployment>(Some("kube-system"), Some("k8s-app=kube-dns"), None)?;
    let version = match deployments.as_slice() {
        [] => String::new(),
        [d] => {
            let image = d
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            match image.rsplit_once(':') {
                Some((_, tag)) if !tag.contains('/') => tag.to_string(),
                _ => anyhow::bail!(
                    "Deployment kube-system/{}: unable to find the image tag: {image:?}",
                    d.metadata.name.as_deref().unwrap_or_default()
                ),
            }
        }
        many => anyhow::bail!(
            "multiple DNS addon deployments found: [{}]",
            many.iter()
                .map(|d| d.metadata.name.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    Ok(Some(InstalledCoreDns { corefile, version }))
}

/// `CoreDNSUnsupportedPlugins`: fails when the Corefile holds plugins/options the migration does
/// not know (they would be carried over untouched).
pub fn check_unsupported_plugins(installed: Option<&InstalledCoreDns>, to: &str) -> CheckOutcome {
    let Some(i) = installed else {
        return CheckOutcome::Ok;
    };
    if norm(&i.version) == norm(to) {
        return CheckOutcome::Ok;
    }
    match unsupported_plugins(&i.version, to, &i.corefile) {
        Err(e) => unknown_version_warning(e),
        Ok(n) if n.is_empty() => CheckOutcome::Ok,
        Ok(n) => CheckOutcome::Error(format!(
            "CoreDNS cannot migrate the following plugins:\n[{}]",
            n.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

/// `CoreDNSMigration`: fails when the Corefile cannot be migrated to `to`.
pub fn check_migration(installed: Option<&InstalledCoreDns>, to: &str) -> CheckOutcome {
    let Some(i) = installed else {
        return CheckOutcome::Ok;
    };
    match migrate(&i.version, to, &i.corefile) {
        Ok(_) => CheckOutcome::Ok,
        Err(e @ (CorefileError::UnsupportedVersion(_) | CorefileError::NoPath { .. })) => {
            unknown_version_warning(e)
        }
        Err(e) => CheckOutcome::Error(format!("CoreDNS will not be upgraded: {e}")),
    }
}

/// A CoreDNS version this build's migration table does not know is this build's gap, not the
/// cluster's fault: the checks warn, and the add-on step keeps a customised Corefile unchanged
/// (a default one is still replaced). Other errors fail the check.
fn unknown_version_warning(e: CorefileError) -> CheckOutcome {
    match e {
        CorefileError::UnsupportedVersion(_) | CorefileError::NoPath { .. } => {
            CheckOutcome::Warning(format!(
                "{e}; this build's Corefile migration table does not cover it, so a customised Corefile is kept unchanged"
            ))
        }
        e => CheckOutcome::Error(e.to_string()),
    }
}

/// Both CoreDNS preflight checks, in kubeadm's order, with `ignorePreflightErrors` applied.
/// `installed` is `None` when the cluster runs no kubeadm CoreDNS (nothing to migrate).
pub fn preflight_checks(
    installed: Option<&InstalledCoreDns>,
    to: &str,
    ignore: &[String],
) -> Vec<PlanItem> {
    [
        (
            CHECK_UNSUPPORTED_PLUGINS,
            check_unsupported_plugins(installed, to),
        ),
        (CHECK_MIGRATION, check_migration(installed, to)),
    ]
    .into_iter()
    .map(|(name, outcome)| PlanItem::Check {
        name: name.to_string(),
        outcome: apply_ignore(name, outcome, ignore),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubeadm 1.36's default Corefile (spec §11.1) for `domain`, as kubeadm writes it.
    fn kubeadm_default(domain: &str) -> String {
        let cache = if domain.is_empty() {
            "cache 30".to_string()
        } else {
            format!(
                "cache 30 {{\n       disable success {domain}\n       disable denial {domain}\n    }}"
            )
        };
        format!(
            ".:53 {{
    errors
    health {{
       lameduck 5s
    }}
    ready
    kubernetes {d} in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus :9153
    forward . /etc/resolv.conf {{
       max_concurrent 1000
    }}
    {cache}
    loop
    reload
    loadbalance
}}
",
            d = if domain.is_empty() {
                "cluster.local"
            } else {
                domain
            }
        )
    }

    /// A user's Corefile: extra upstream, a hosts block, a rewrite, a stub-domain server block.
    const CUSTOM: &str = r#".:53 {
    errors
    log
    health {
       lameduck 5s
    }
    ready
    rewrite name regex (.*)\.corp\.internal {1}.default.svc.cluster.local
    hosts {
       192.0.2.10 registry.corp.internal
       2001:db8::10 registry6.corp.internal
       fallthrough
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . 10.0.0.53 10.0.0.54 {
       max_concurrent 1000
       policy sequential
    }
    cache 30
    loop
    reload
    loadbalance
}
corp.internal:53 {
    errors
    forward . 10.1.0.53  # the corp resolver
    cache 300
}
"#;

    #[test]
    fn parse_builds_the_three_level_model() {
        let cf = Corefile::parse(CUSTOM).unwrap();
        assert_eq!(cf.servers.len(), 2);
        assert_eq!(cf.servers[0].keys, [".:53"]);
        let fwd = cf.servers[0]
            .plugins
            .iter()
            .find(|p| p.name == "forward")
            .unwrap();
        assert_eq!(fwd.args, [".", "10.0.0.53", "10.0.0.54"]);
        assert_eq!(
            fwd.options[1],
            PluginOption {
                name: "policy".into(),
                args: vec!["sequential".into()]
            }
        );
        let hosts = &cf.servers[0].plugins[5];
        assert_eq!(hosts.name, "hosts");
        assert_eq!(hosts.options.len(), 3);
        assert_eq!(hosts.options[0].args, ["registry.corp.internal"]);
        // comments are dropped
        assert_eq!(cf.servers[1].plugins[1].args, [".", "10.1.0.53"]);
    }

    #[test]
    fn print_round_trips() {
        for text in [CUSTOM.to_string(), kubeadm_default("cluster.local")] {
            let cf = Corefile::parse(&text).unwrap();
            let printed = cf.to_string();
            assert_eq!(Corefile::parse(&printed).unwrap(), cf, "{printed}");
            assert_eq!(Corefile::parse(&printed).unwrap().to_string(), printed);
        }
        // The library's format: 4-space indents, blocks joined by a newline.
        let cf =
            Corefile::parse("a.:53 {\n forward . 1.1.1.1 {\n  max_fails 3\n }\n}\nb:53 {\n log\n}")
                .unwrap();
        assert_eq!(
            cf.to_string(),
            "a.:53 {\n    forward . 1.1.1.1 {\n        max_fails 3\n    }\n}\n\nb:53 {\n    log\n}\n"
        );
        // Quoted words keep their spaces.
        let q = Corefile::parse(".:53 {\n    template IN A {\n        answer \"{{ .Name }} 60 IN A 1.2.3.4\"\n    }\n}\n")
            .unwrap();
        assert_eq!(
            q.servers[0].plugins[0].options[0].args,
            ["{{ .Name }} 60 IN A 1.2.3.4"]
        );
        assert_eq!(Corefile::parse(&q.to_string()).unwrap(), q);
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = Corefile::parse(".:53 {\n    errors\n").unwrap_err();
        assert!(matches!(e, CorefileError::Parse { .. }), "{e}");
        let e = Corefile::parse(".:53 {\n}\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "Corefile line 3: unexpected '}'");
        let e = Corefile::parse(".:53 {\n  a {\n    b {\n      c\n    }\n  }\n}\n").unwrap_err();
        assert!(e.to_string().starts_with("Corefile line 3:"), "{e}");
    }

    #[test]
    fn defaults_of_each_release_are_recognised_and_replaced() {
        let new_default = kubeadm_default("cluster.local");
        // Kubernetes 1.33 (CoreDNS 1.12.0), 1.34 (1.12.1), 1.35 (1.13.1), 1.36/1.37 (1.14.2).
        for from in ["v1.12.0", "v1.12.1", "v1.13.1", "v1.14.2"] {
            for domain in ["cluster.local", "k8s.example.org", ""] {
                let current = kubeadm_default(domain);
                assert!(is_default(&current), "{domain}: {current}");
                assert_eq!(
                    plan_corefile(Some(&current), from, "v1.14.2", &new_default),
                    CorefileDecision::Replace(new_default.clone()),
                    "{from} {domain}"
                );
            }
        }
        // The library's own template text, and a reordered default (order does not matter).
        assert!(is_default(DEFAULT_1_7));
        let reordered = kubeadm_default("cluster.local")
            .replace("    loop\n    reload\n", "    reload\n    loop\n");
        assert!(is_default(&reordered));
        // Empty or absent Corefiles are replaced too.
        for current in [None, Some(""), Some("  \n")] {
            assert_eq!(
                plan_corefile(current, "v1.13.1", "v1.14.2", &new_default),
                CorefileDecision::Replace(new_default.clone())
            );
        }
        // One changed argument makes it the user's.
        let custom = kubeadm_default("cluster.local").replace("ttl 30", "ttl 5");
        assert!(!is_default(&custom));
        let extra = kubeadm_default("cluster.local").replace("    loop\n", "    loop\n    log\n");
        assert!(!is_default(&extra));
    }

    #[test]
    fn customised_corefile_is_kept_across_1_12_to_1_14() {
        let new_default = kubeadm_default("cluster.local");
        for from in ["1.12.0", "v1.12.1", "v1.13.1"] {
            assert!(deprecated(from, "v1.14.2", CUSTOM).unwrap().is_empty());
            assert!(unsupported_plugins(from, "v1.14.2", CUSTOM)
                .unwrap()
                .is_empty());
            match plan_corefile(Some(CUSTOM), from, "v1.14.2", &new_default) {
                CorefileDecision::Keep { warning, reason } => {
                    assert!(!warning, "{reason}");
                    assert!(reason.contains("needs no migration"), "{reason}");
                }
                d => panic!("{from}: {d:?}"),
            }
            // A migration (if one were run) keeps every customisation.
            let m = migrate(from, "v1.14.2", CUSTOM).unwrap();
            assert_eq!(
                Corefile::parse(&m).unwrap(),
                Corefile::parse(CUSTOM).unwrap()
            );
        }
        let ok = preflight_checks(
            Some(&InstalledCoreDns {
                corefile: CUSTOM.into(),
                version: "v1.13.1".into(),
            }),
            "v1.14.2",
            &[],
        );
        assert!(ok.iter().all(|i| matches!(
            i,
            PlanItem::Check {
                outcome: CheckOutcome::Ok,
                ..
            }
        )));
    }

    #[test]
    fn unknown_plugins_and_options_are_reported() {
        let corefile = CUSTOM
            .replace(
                "    loop\n",
                "    loop\n    acl {\n       block type ANY\n    }\n",
            )
            .replace(
                "policy sequential",
                "policy sequential\n       frobnicate yes",
            );
        let n = unsupported_plugins("v1.13.1", "v1.14.2", &corefile).unwrap();
        let text: Vec<String> = n.iter().map(|n| n.to_string()).collect();
        // once per version stepped through: 1.13.2, 1.14.0, 1.14.1, 1.14.2
        assert_eq!(n.len(), 8, "{text:#?}");
        assert!(text.contains(
            &"Plugin \"acl\" is unsupported by this migration tool in 1.14.2.".to_string()
        ));
        assert!(text.contains(
            &"Option \"frobnicate\" in plugin \"forward\" is unsupported by this migration tool in 1.13.2."
                .to_string()
        ));
        let info = InstalledCoreDns {
            corefile: corefile.clone(),
            version: "v1.13.1".into(),
        };
        let installed = Some(&info);
        match check_unsupported_plugins(installed, "v1.14.2") {
            CheckOutcome::Error(m) => {
                assert!(
                    m.starts_with("CoreDNS cannot migrate the following plugins:"),
                    "{m}"
                );
                assert!(m.contains("\"acl\""), "{m}");
            }
            o => panic!("{o:?}"),
        }
        // Same version: nothing to migrate, nothing reported.
        assert_eq!(
            check_unsupported_plugins(
                Some(&InstalledCoreDns {
                    corefile: corefile.clone(),
                    version: "v1.14.2".into()
                }),
                "v1.14.2"
            ),
            CheckOutcome::Ok
        );
        // Migration keeps unknown plugins untouched, so CoreDNSMigration passes.
        assert_eq!(check_migration(installed, "v1.14.2"), CheckOutcome::Ok);
        let items = preflight_checks(installed, "v1.14.2", &["coreDNSUnsupportedPlugins".into()]);
        assert!(
            matches!(&items[0], PlanItem::Check { name, outcome: CheckOutcome::Ignored(_) } if name == CHECK_UNSUPPORTED_PLUGINS)
        );
        assert!(matches!(
            &items[1],
            PlanItem::Check {
                outcome: CheckOutcome::Ok,
                ..
            }
        ));
    }

    #[test]
    fn unknown_start_version_keeps_the_corefile_with_a_warning() {
        let new_default = kubeadm_default("cluster.local");
        match plan_corefile(Some(CUSTOM), "v1.10.1", "v1.14.2", &new_default) {
            CorefileDecision::Keep { warning, reason } => {
                assert!(warning);
                assert!(
                    reason.contains("start version '1.10.1' not supported"),
                    "{reason}"
                );
            }
            d => panic!("{d:?}"),
        }
        // A default Corefile is still replaced whatever the version.
        assert_eq!(
            plan_corefile(
                Some(&kubeadm_default("cluster.local")),
                "v1.10.1",
                "v1.14.2",
                &new_default
            ),
            CorefileDecision::Replace(new_default.clone())
        );
        // A Corefile the migration cannot read is kept, with the line named.
        match plan_corefile(
            Some(".:53 {\n    errors\n"),
            "v1.13.1",
            "v1.14.2",
            &new_default,
        ) {
            CorefileDecision::Keep { warning, reason } => {
                assert!(warning);
                assert!(reason.contains("Corefile line 2: missing '}'"), "{reason}");
            }
            d => panic!("{d:?}"),
        }
        // Downgrades are not migrations.
        assert_eq!(
            migrate("1.14.2", "1.13.1", CUSTOM).unwrap_err(),
            CorefileError::NoPath {
                from: "1.14.2".into(),
                to: "1.13.1".into()
            }
        );
        let info = InstalledCoreDns {
            corefile: CUSTOM.into(),
            version: "v1.10.1".into(),
        };
        let installed = Some(&info);
        // A version outside this build's table is the table's gap: a warning, not a refusal.
        let items = preflight_checks(installed, "v1.14.2", &[]);
        for i in &items {
            assert!(
                matches!(i, PlanItem::Check { outcome: CheckOutcome::Warning(m), .. } if m.contains("start version '1.10.1' not supported") && m.contains("kept unchanged")),
                "{i:?}"
            );
        }
        // The same for a target newer than the table (CoreDNS of a later Kubernetes).
        let info_known = InstalledCoreDns {
            corefile: CUSTOM.into(),
            version: "v1.14.2".into(),
        };
        for i in &preflight_checks(Some(&info_known), "v1.99.0", &[]) {
            assert!(
                matches!(
                    i,
                    PlanItem::Check {
                        outcome: CheckOutcome::Warning(_),
                        ..
                    }
                ),
                "{i:?}"
            );
        }
        // No CoreDNS installed: nothing to check.
        assert!(preflight_checks(None, "v1.14.2", &[])
            .iter()
            .all(|i| matches!(
                i,
                PlanItem::Check {
                    outcome: CheckOutcome::Ok,
                    ..
                }
            )));
    }

    #[test]
    fn hosts_entries_match_the_library_patterns() {
        for s in [
            "192.0.2.10",
            "10.0.0.1",
            "1.2.3.4x",
            "2001:db8::10",
            "::ffff:10.0.0.1",
        ] {
            assert!(Pattern::Ipv4.matches(s) || Pattern::Ipv6.matches(s), "{s}");
        }
        // The library's IPv6 pattern needs a group between the colons: `fe80::1` is not
        // recognised (reported as an unsupported hosts option), as in corefile-migration.
        for s in ["fallthrough", "1.2.3", "abc:", "a::", "fe80::1"] {
            assert!(
                !Pattern::Ipv4.matches(s) && !Pattern::Ipv6.matches(s),
                "{s}"
            );
        }
    }

    // The rule engine against corefile-migration's historic rules (plugins.go / versions.go):
    // 1.4.0 → 1.5.0 removed `proxy` (replaced by `forward`) and added `ready` as a new default
    // to server blocks with `kubernetes`; 1.6.9 → 1.7.0 removed the kubernetes options
    // `upstream` and `resyncperiod` and added `max_concurrent 1000` to `forward`.
    const K8S_V6: &[OptionRule] = &[
        OptionRule {
            name: "resyncperiod",
            status: Some(Severity::Ignored),
            action: Some(OptionAction::Remove),
            add: None,
        },
        OptionRule {
            name: "upstream",
            status: Some(Severity::Ignored),
            action: Some(OptionAction::Remove),
            add: None,
        },
        OptionRule {
            name: "endpoint",
            status: Some(Severity::Ignored),
            action: Some(OptionAction::FirstArgumentOnly),
            add: None,
        },
        opt("pods"),
        opt("fallthrough"),
        opt("ttl"),
    ];
    const K8S_V7: &[OptionRule] = &[
        OptionRule {
            name: "resyncperiod",
            status: Some(Severity::Removed),
            action: Some(OptionAction::Remove),
            add: None,
        },
        OptionRule {
            name: "upstream",
            status: Some(Severity::Removed),
            action: Some(OptionAction::Remove),
            add: None,
        },
        K8S_V6[2],
        opt("pods"),
        opt("fallthrough"),
        opt("ttl"),
    ];
    const FORWARD_V3_ADD: &[OptionRule] = &[
        opt("except"),
        opt("policy"),
        OptionRule {
            name: "max_concurrent",
            status: Some(Severity::NewDefault),
            action: None,
            add: Some("max_concurrent 1000"),
        },
    ];
    const COMMON: [PluginRule; 6] = [
        plugin("errors", &[]),
        plugin("health", &[opt("lameduck")]),
        plugin("cache", &[opt("success"), opt("denial")]),
        plugin("loop", &[]),
        plugin("reload", &[]),
        HOSTS_V1,
    ];
    const P169: &[PluginRule] = &[
        COMMON[0],
        COMMON[1],
        COMMON[2],
        COMMON[3],
        COMMON[4],
        COMMON[5],
        plugin("ready", &[]),
        plugin("kubernetes", K8S_V6),
        plugin("forward", &[opt("except"), opt("policy")]),
    ];
    const P170: &[PluginRule] = &[
        COMMON[0],
        COMMON[1],
        COMMON[2],
        COMMON[3],
        COMMON[4],
        COMMON[5],
        plugin("ready", &[]),
        plugin("kubernetes", K8S_V7),
        plugin("forward", FORWARD_V3_ADD),
    ];
    const P140: &[PluginRule] = P169;
    const P150: &[PluginRule] = &[
        COMMON[0],
        COMMON[1],
        COMMON[2],
        COMMON[3],
        COMMON[4],
        COMMON[5],
        PluginRule {
            status: Some(Severity::NewDefault),
            add: Some(("ready", AddTo::BlocksWith(&["kubernetes"]))),
            ..plugin("ready", &[])
        },
        plugin("kubernetes", K8S_V6),
        plugin("forward", &[opt("except"), opt("policy")]),
        PluginRule {
            status: Some(Severity::Removed),
            replaced_by: Some("forward"),
            action: Some(PluginAction::Rename("forward")),
            ..plugin(
                "proxy",
                &[
                    opt("except"),
                    OptionRule {
                        name: "fail_timeout",
                        status: None,
                        action: Some(OptionAction::Remove),
                        add: None,
                    },
                ],
            )
        },
        PluginRule {
            status: Some(Severity::Removed),
            action: Some(PluginAction::Remove),
            ..plugin("federation", &[])
        },
    ];
    const HISTORIC: Table = Table(&[
        Release {
            version: "1.4.0",
            next: Some("1.5.0"),
            plugins: P140,
            default_conf: None,
        },
        Release {
            version: "1.5.0",
            next: None,
            plugins: P150,
            default_conf: None,
        },
        Release {
            version: "1.6.9",
            next: Some("1.7.0"),
            plugins: P169,
            default_conf: None,
        },
        Release {
            version: "1.7.0",
            next: None,
            plugins: P170,
            default_conf: Some(DEFAULT_1_7),
        },
    ]);

    const OLD_CUSTOM: &str = ".:53 {
    errors
    health
    hosts {
        192.0.2.10 registry.corp.internal
        fallthrough
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        upstream
        endpoint https://10.0.0.1:6443 https://10.0.0.2:6443
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . 10.0.0.53 10.0.0.54
    cache 30
    loop
    reload
}
";

    #[test]
    fn removed_options_and_new_defaults_migrate_as_the_library_does() {
        let notices = status_notices(&HISTORIC, "1.6.9", "1.7.0", OLD_CUSTOM, false).unwrap();
        let text: Vec<String> = notices.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            text,
            [
                "Option \"upstream\" in plugin \"kubernetes\" is removed in 1.7.0.",
                "Option \"endpoint\" in plugin \"kubernetes\" is ignored in 1.7.0.",
                "Option \"max_concurrent\" in plugin \"forward\" is added as a default in 1.7.0.",
            ]
        );
        let new_default = "new default";
        match plan_with(&HISTORIC, Some(OLD_CUSTOM), "v1.6.9", "v1.7.0", new_default) {
            CorefileDecision::Migrate { corefile, backup } => {
                assert_eq!(backup, OLD_CUSTOM);
                assert_eq!(
                    corefile,
                    ".:53 {
    errors
    health
    hosts {
        192.0.2.10 registry.corp.internal
        fallthrough
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        endpoint https://10.0.0.1:6443
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . 10.0.0.53 10.0.0.54 {
        max_concurrent 1000
    }
    cache 30
    loop
    reload
}
"
                );
            }
            d => panic!("{d:?}"),
        }
        // A default of the target release is still just replaced.
        assert_eq!(
            plan_with(
                &HISTORIC,
                Some(&kubeadm_default("")),
                "1.6.9",
                "1.7.0",
                new_default
            ),
            CorefileDecision::Replace(new_default.into())
        );
    }

    #[test]
    fn removed_plugins_are_renamed_or_dropped_and_new_default_plugins_added() {
        let old = ".:53 {
    errors
    kubernetes cluster.local {
        pods insecure
    }
    federation cluster.local {
        prod prod.feddomain.com
    }
    proxy . 10.0.0.53 {
        fail_timeout 10s
        except corp.internal
    }
}
corp.internal:53 {
    proxy . 10.1.0.53
}
";
        let n = status_notices(&HISTORIC, "1.4.0", "1.5.0", old, false).unwrap();
        let text: Vec<String> = n.iter().map(|n| n.to_string()).collect();
        assert!(
            text.contains(
                &"Plugin \"proxy\" is removed in 1.5.0. It is replaced by \"forward\".".to_string()
            ),
            "{text:#?}"
        );
        assert!(
            text.contains(&"Plugin \"federation\" is removed in 1.5.0.".to_string()),
            "{text:#?}"
        );
        assert!(
            text.contains(&"Plugin \"ready\" is added as a default in 1.5.0.".to_string()),
            "{text:#?}"
        );
        let migrated = migrate_with(&HISTORIC, "1.4.0", "1.5.0", old).unwrap();
        assert_eq!(
            migrated,
            ".:53 {
    errors
    kubernetes cluster.local {
        pods insecure
    }
    forward . 10.0.0.53 {
        except corp.internal
    }
    ready
}

corp.internal:53 {
    forward . 10.1.0.53
}
"
        );
        // Deprecated-only changes are left alone (deprecations=false) and need no migration.
        let same = status_notices(&HISTORIC, "1.4.0", "1.4.0", old, false).unwrap();
        assert!(same.iter().all(|n| n.severity != Severity::Removed));
        assert_eq!(migrate_with(&HISTORIC, "1.4.0", "1.4.0", old).unwrap(), old);
    }
}
