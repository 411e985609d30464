//! The kubeconfig document: building (client certificate or token auth), reading the parts
//! kubeadm looks at, and serializing like client-go (YAML from JSON: every mapping's keys
//! sorted, no `preferences`).

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use serde_yaml::{Mapping, Value};

use crate::pki::{fsutil, PkiError, Result};

/// File mode of kubeconfig files.
pub const KUBECONFIG_MODE: u32 = 0o600;
/// Mode of a kubeconfig directory created when missing.
pub const KUBECONFIG_DIR_MODE: u32 = 0o755;

/// A kubeconfig (`apiVersion: v1`, `kind: Config`). Fields this library does not know are
/// kept when a loaded file is modified and written back. `Debug` prints no credentials.
#[derive(Clone, PartialEq)]
pub struct Kubeconfig {
    value: Value,
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("current_context", &self.current_context())
            .field("server", &self.server())
            .finish_non_exhaustive()
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in entries {
        m.insert(s(k), v);
    }
    Value::Mapping(m)
}

/// go-yaml v2's key order (what client-go's YAML output uses): rune-wise, non-letters before
/// letters, digit runs compared numerically.
fn yaml_v2_key_cmp(a: &str, b: &str) -> Ordering {
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
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let num = |r: &[char], mut j: usize| {
            let mut n: i128 = 0;
            while j < r.len() && r[j].is_ascii_digit() {
                n = n
                    .saturating_mul(10)
                    .saturating_add(r[j] as i128 - '0' as i128);
                j += 1;
            }
            (n, j)
        };
        let (an, ai) = num(&ar, i);
        let (bn, bi) = num(&br, i);
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Mapping(m) => {
            let mut entries: Vec<(&Value, &Value)> = m.iter().collect();
            entries.sort_by(|(a, _), (b, _)| match (a.as_str(), b.as_str()) {
                (Some(a), Some(b)) => yaml_v2_key_cmp(a, b),
                _ => Ordering::Equal,
            });
            let mut out = Mapping::new();
            for (k, v) in entries {
                out.insert(k.clone(), sorted(v));
            }
            Value::Mapping(out)
        }
        Value::Sequence(seq) => Value::Sequence(seq.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

impl Kubeconfig {
    fn new(server: &str, cluster_name: &str, user_name: &str, ca_pem: &[u8], user: Value) -> Self {
        let context_name = format!("{user_name}@{cluster_name}");
        let value = map(vec![
            ("apiVersion", s("v1")),
            (
                "clusters",
                Value::Sequence(vec![map(vec![
                    (
                        "cluster",
                        map(vec![
                            ("certificate-authority-data", s(&b64(ca_pem))),
                            ("server", s(server)),
                        ]),
                    ),
                    ("name", s(cluster_name)),
                ])]),
            ),
            (
                "contexts",
                Value::Sequence(vec![map(vec![
                    (
                        "context",
                        map(vec![("cluster", s(cluster_name)), ("user", s(user_name))]),
                    ),
                    ("name", s(&context_name)),
                ])]),
            ),
            ("current-context", s(&context_name)),
            ("kind", s("Config")),
            (
                "users",
                Value::Sequence(vec![map(vec![("name", s(user_name)), ("user", user)])]),
            ),
        ]);
        Kubeconfig { value }
    }

    /// A kubeconfig with embedded client certificate and key (kubeadm's `CreateWithCerts`):
    /// cluster `cluster_name`, user `user_name`, context `<user>@<cluster>`.
    pub fn with_client_cert(
        server: &str,
        cluster_name: &str,
        user_name: &str,
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Self {
        let mut user = Vec::new();
        if !cert_pem.is_empty() {
            user.push(("client-certificate-data", s(&b64(cert_pem))));
        }
        if !key_pem.is_empty() {
            user.push(("client-key-data", s(&b64(key_pem))));
        }
        let mut k = Self::new(server, cluster_name, user_name, ca_pem, map(user));
        if ca_pem.is_empty() {
            k.cluster_mut()
                .map(|c| c.remove("certificate-authority-data"));
        }
        k
    }

    /// A kubeconfig with token authentication (kubeadm's `CreateWithToken`).
    pub fn with_token(
        server: &str,
        cluster_name: &str,
        user_name: &str,
        ca_pem: &[u8],
        token: &str,
    ) -> Self {
        Self::new(
            server,
            cluster_name,
            user_name,
            ca_pem,
            map(vec![("token", s(token))]),
        )
    }

    /// `bootstrap-kubelet.conf` for a joining node: cluster `kubernetes`, user
    /// `tls-bootstrap-token-user` authenticating with the bootstrap token `<id>.<secret>`.
    /// Use [`Kubeconfig::rename_cluster`] once the cluster's `clusterName` is known.
    pub fn bootstrap_kubelet(server: &str, ca_pem: &[u8], token: &str) -> Self {
        Self::with_token(
            server,
            "kubernetes",
            "tls-bootstrap-token-user",
            ca_pem,
            token,
        )
    }

    /// Parses a kubeconfig. Errors name `path`.
    pub fn from_yaml(data: &[u8], path: &Path) -> Result<Self> {
        let value: Value = serde_yaml::from_slice(data)
            .map_err(|e| PkiError::file(path, format!("invalid kubeconfig: {e}")))?;
        if !value.is_mapping() {
            return Err(PkiError::file(path, "invalid kubeconfig: not a mapping"));
        }
        Ok(Kubeconfig { value })
    }

    /// Reads and parses a kubeconfig file.
    pub fn load(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| PkiError::io(path, e))?;
        Self::from_yaml(&data, path)
    }

    /// Serializes like client-go (keys sorted at every level).
    pub fn to_yaml(&self) -> Result<String> {
        serde_yaml::to_string(&sorted(&self.value))
            .map_err(|e| PkiError::Crypto(format!("kubeconfig serialization failed: {e}")))
    }

    /// Writes the file atomically with mode 0600 (directory created 0755 when missing).
    pub fn write(&self, path: &Path) -> Result<()> {
        fsutil::write_atomic(
            path,
            self.to_yaml()?.as_bytes(),
            KUBECONFIG_MODE,
            KUBECONFIG_DIR_MODE,
        )
    }

    /// The raw YAML value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// `current-context`.
    pub fn current_context(&self) -> Option<&str> {
        self.value.get("current-context")?.as_str()
    }

    fn named<'a>(&'a self, list: &str, name: &str) -> Option<&'a Value> {
        self.value
            .get(list)?
            .as_sequence()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
    }

    fn named_mut(&mut self, list: &str, name: &str, field: &str) -> Option<&mut Mapping> {
        self.value
            .get_mut(list)?
            .as_sequence_mut()?
            .iter_mut()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))?
            .get_mut(field)?
            .as_mapping_mut()
    }

    fn context_field(&self, field: &str) -> Option<String> {
        let ctx = self.named("contexts", self.current_context()?)?;
        Some(ctx.get("context")?.get(field)?.as_str()?.to_string())
    }

    /// Name of the current context's cluster.
    pub fn current_cluster_name(&self) -> Option<String> {
        self.context_field("cluster")
    }

    /// Name of the current context's user.
    pub fn current_user_name(&self) -> Option<String> {
        self.context_field("user")
    }

    fn cluster(&self) -> Option<&Value> {
        self.named("clusters", &self.current_cluster_name()?)?
            .get("cluster")
    }

    fn cluster_mut(&mut self) -> Option<&mut Mapping> {
        let name = self.current_cluster_name()?;
        self.named_mut("clusters", &name, "cluster")
    }

    fn user(&self) -> Option<&Value> {
        self.named("users", &self.current_user_name()?)?.get("user")
    }

    fn user_mut(&mut self) -> Option<&mut Mapping> {
        let name = self.current_user_name()?;
        self.named_mut("users", &name, "user")
    }

    /// Server URL of the current context's cluster.
    pub fn server(&self) -> Option<&str> {
        self.cluster()?.get("server")?.as_str()
    }

    /// CA certificates (PEM) of the current context's cluster: `certificate-authority-data`
    /// (whitespace-trimmed) or, if empty, the file named by `certificate-authority`. Errors
    /// name `path` (the kubeconfig) when the context, cluster or CA is missing.
    pub fn current_cluster_ca_pem(&self, path: &Path) -> Result<Vec<u8>> {
        let ctx = self
            .current_context()
            .ok_or_else(|| PkiError::file(path, "kubeconfig has no current-context"))?;
        let cluster_name = self.current_cluster_name().ok_or_else(|| {
            PkiError::file(
                path,
                format!("current context {ctx:?} not found in the kubeconfig"),
            )
        })?;
        let cluster = self.cluster().ok_or_else(|| {
            PkiError::file(
                path,
                format!("cluster {cluster_name:?} of the current context not found"),
            )
        })?;
        let data = cluster
            .get("certificate-authority-data")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        if !data.is_empty() {
            let compact: String = data.split_whitespace().collect();
            return base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| {
                    PkiError::file(
                        path,
                        format!("certificate-authority-data is not valid base64: {e}"),
                    )
                });
        }
        if let Some(file) = cluster
            .get("certificate-authority")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
        {
            let p = Path::new(file);
            return std::fs::read(p).map_err(|e| PkiError::io(p, e));
        }
        Err(PkiError::file(
            path,
            format!("cluster {cluster_name:?} has no certificate authority"),
        ))
    }

    /// The embedded client certificate (PEM) of the current user, if any.
    pub fn client_certificate_pem(&self) -> Option<Vec<u8>> {
        let d = self.user()?.get("client-certificate-data")?.as_str()?;
        let compact: String = d.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .ok()
            .filter(|v| !v.is_empty())
    }

    /// The embedded client key (PEM) of the current user, if any.
    pub fn client_key_pem(&self) -> Option<Vec<u8>> {
        let d = self.user()?.get("client-key-data")?.as_str()?;
        let compact: String = d.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .ok()
            .filter(|v| !v.is_empty())
    }

    /// Replaces the current user's embedded client certificate and key.
    pub fn set_client_certificate(&mut self, cert_pem: &[u8], key_pem: &[u8]) -> bool {
        match self.user_mut() {
            Some(u) => {
                u.insert(s("client-certificate-data"), s(&b64(cert_pem)));
                u.insert(s("client-key-data"), s(&b64(key_pem)));
                true
            }
            None => false,
        }
    }

    /// Replaces the current cluster's `certificate-authority-data`.
    pub fn set_ca_data(&mut self, ca_pem: &[u8]) -> bool {
        match self.cluster_mut() {
            Some(c) => {
                c.insert(s("certificate-authority-data"), s(&b64(ca_pem)));
                true
            }
            None => false,
        }
    }

    /// Replaces the current cluster's `server`.
    pub fn set_server(&mut self, url: &str) -> bool {
        match self.cluster_mut() {
            Some(c) => {
                c.insert(s("server"), s(url));
                true
            }
            None => false,
        }
    }

    /// Re-keys the current context's cluster entry to `new_name` (the context keeps its name),
    /// as kubeadm does with `bootstrap-kubelet.conf` once it knows the cluster's `clusterName`.
    pub fn rename_cluster(&mut self, new_name: &str) -> bool {
        let Some(old) = self.current_cluster_name() else {
            return false;
        };
        let Some(ctx_name) = self.current_context().map(str::to_string) else {
            return false;
        };
        let mut ok = false;
        if let Some(list) = self
            .value
            .get_mut("clusters")
            .and_then(Value::as_sequence_mut)
        {
            for c in list.iter_mut() {
                if c.get("name").and_then(Value::as_str) == Some(old.as_str()) {
                    if let Some(m) = c.as_mapping_mut() {
                        m.insert(s("name"), s(new_name));
                        ok = true;
                    }
                }
            }
        }
        if let Some(ctx) = self.named_mut("contexts", &ctx_name, "context") {
            ctx.insert(s("cluster"), s(new_name));
        }
        ok
    }
}
