//! Multi-document YAML parsing: sorts documents by kind, decodes them and collects warnings.

use std::fmt;

use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_yaml::Value;

use super::error::{ConfigError, Problem};
use super::firstboot::{FirstbootConfiguration, FIRSTBOOT_API_VERSION};
use super::types::{
    ClusterConfiguration, InitConfiguration, JoinConfiguration, KUBEADM_API_VERSION,
};

/// API version the KubeletConfiguration document must use.
pub const KUBELET_CONFIG_API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
/// API version the KubeProxyConfiguration document must use.
pub const KUBE_PROXY_CONFIG_API_VERSION: &str = "kubeproxy.config.k8s.io/v1alpha1";

/// The documents of one configuration file, decoded but not yet defaulted or validated.
#[derive(Debug, Clone, Default)]
pub struct Documents {
    /// Where the documents came from (file path or `<defaults>`).
    pub source: String,
    /// `InitConfiguration`, if present.
    pub init: Option<InitConfiguration>,
    /// `ClusterConfiguration`, if present.
    pub cluster: Option<ClusterConfiguration>,
    /// `JoinConfiguration`, if present.
    pub join: Option<JoinConfiguration>,
    /// `KubeletConfiguration` document, kept as YAML.
    pub kubelet: Option<Value>,
    /// `KubeProxyConfiguration` document, kept as YAML.
    pub kube_proxy: Option<Value>,
    /// `FirstbootConfiguration`, if present.
    pub firstboot: Option<FirstbootConfiguration>,
    /// Labels (`document N (Kind)`) by kind, for error messages.
    pub labels: Vec<(String, String)>,
    /// Warnings (unknown fields, ignored documents), printed by the caller.
    pub warnings: Vec<String>,
}

impl Documents {
    /// The label used in messages for the document of `kind`, e.g. `document 2 (ClusterConfiguration)`.
    pub fn label(&self, kind: &str) -> String {
        self.labels
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| format!("{kind} (defaults)"))
    }
}

/// Parses a multi-document YAML configuration (`---` separated).
///
/// Rules (kubeadm §16, with the stricter choices documented): every document needs `apiVersion` and
/// `kind`; the same kind twice is an error; documents of groups firstboot does not know are ignored
/// with a warning; an unknown kind or version within kubeadm's, kubebake's, the kubelet's or
/// kube-proxy's group is an error; unknown and duplicate fields are warnings.
pub fn parse_documents(source: &str, text: &str) -> Result<Documents, ConfigError> {
    let mut docs = Documents {
        source: source.to_string(),
        ..Default::default()
    };
    let mut problems = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let n = i + 1;
        let lenient = match Lenient::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                problems.push(Problem::document(
                    format!("document {n}"),
                    format!("not valid YAML: {e}"),
                ));
                // The parser cannot resynchronise after a syntax error.
                break;
            }
        };
        let value = lenient.value;
        if value.is_null() {
            continue; // empty document (e.g. a trailing `---`)
        }
        let Value::Mapping(map) = &value else {
            problems.push(Problem::document(
                format!("document {n}"),
                "must be a YAML mapping with apiVersion and kind",
            ));
            continue;
        };
        let get = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let api_version = get("apiVersion");
        let kind = get("kind");
        let label = if kind.is_empty() {
            format!("document {n}")
        } else {
            format!("document {n} ({kind})")
        };
        for d in &lenient.duplicates {
            docs.warnings.push(format!(
                "{label}: duplicate field {d:?} (the last value is used)"
            ));
        }
        if api_version.is_empty() || kind.is_empty() {
            let missing = if api_version.is_empty() {
                "apiVersion"
            } else {
                "kind"
            };
            problems.push(Problem::document(
                label,
                format!("field {missing} is missing: every document needs apiVersion and kind"),
            ));
            continue;
        }
        if docs.labels.iter().any(|(k, _)| *k == kind) {
            let first = docs.label(&kind);
            problems.push(Problem::document(
                label,
                format!("kind {kind} appears twice (first in {first}); give each kind once"),
            ));
            continue;
        }
        let group = api_version.split('/').next().unwrap_or("");
        let result = match (group, kind.as_str()) {
            ("kubeadm.k8s.io", _) => decode_kubeadm(&mut docs, &label, &api_version, &kind, &value),
            ("kubebake.io", _) => {
                if api_version != FIRSTBOOT_API_VERSION {
                    Err(Problem::field(
                        &label,
                        "apiVersion",
                        &api_version,
                        format!("unsupported version; use {FIRSTBOOT_API_VERSION}"),
                    ))
                } else if kind != "FirstbootConfiguration" {
                    Err(Problem::field(
                        &label,
                        "kind",
                        &kind,
                        format!("unknown kind in {FIRSTBOOT_API_VERSION}; expected FirstbootConfiguration"),
                    ))
                } else {
                    decode::<FirstbootConfiguration>(&label, &value, &mut docs.warnings)
                        .map(|c| docs.firstboot = Some(c))
                }
            }
            (_, "KubeletConfiguration") => {
                if api_version != KUBELET_CONFIG_API_VERSION {
                    Err(Problem::field(
                        &label,
                        "apiVersion",
                        &api_version,
                        format!("KubeletConfiguration must use {KUBELET_CONFIG_API_VERSION}"),
                    ))
                } else {
                    docs.kubelet = Some(value.clone());
                    Ok(())
                }
            }
            (_, "KubeProxyConfiguration") => {
                if api_version != KUBE_PROXY_CONFIG_API_VERSION {
                    Err(Problem::field(
                        &label,
                        "apiVersion",
                        &api_version,
                        format!("KubeProxyConfiguration must use {KUBE_PROXY_CONFIG_API_VERSION}"),
                    ))
                } else {
                    docs.kube_proxy = Some(value.clone());
                    Ok(())
                }
            }
            _ => {
                docs.warnings.push(format!(
                    "{label}: ignoring document of unknown apiVersion {api_version:?} kind {kind:?}"
                ));
                Ok(())
            }
        };
        match result {
            Ok(()) => docs.labels.push((kind, label)),
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(docs)
    } else {
        Err(ConfigError::Invalid {
            file: source.to_string(),
            problems,
        })
    }
}

fn decode_kubeadm(
    docs: &mut Documents,
    label: &str,
    api_version: &str,
    kind: &str,
    value: &Value,
) -> Result<(), Problem> {
    match api_version {
        KUBEADM_API_VERSION => {}
        "kubeadm.k8s.io/v1beta3" => {
            return Err(Problem::field(
                label,
                "apiVersion",
                api_version,
                "v1beta3 is deprecated and firstboot reads only kubeadm.k8s.io/v1beta4; \
                 convert the file with `kubeadm config migrate --old-config FILE`",
            ))
        }
        _ => {
            return Err(Problem::field(
                label,
                "apiVersion",
                api_version,
                format!("unsupported kubeadm API version; use {KUBEADM_API_VERSION}"),
            ))
        }
    }
    match kind {
        "InitConfiguration" => {
            docs.init = Some(decode(label, value, &mut docs.warnings)?);
        }
        "ClusterConfiguration" => {
            docs.cluster = Some(decode(label, value, &mut docs.warnings)?);
        }
        "JoinConfiguration" => {
            docs.join = Some(decode(label, value, &mut docs.warnings)?);
        }
        "ResetConfiguration" | "UpgradeConfiguration" => {
            docs.warnings.push(format!(
                "{label}: {kind} is not used by firstboot; ignoring it"
            ));
        }
        other => {
            return Err(Problem::field(
                label,
                "kind",
                other,
                format!(
                    "unknown kind in {KUBEADM_API_VERSION}; expected InitConfiguration, \
                     ClusterConfiguration or JoinConfiguration"
                ),
            ))
        }
    }
    Ok(())
}

/// Decodes one document into `T`, turning unknown fields into warnings and type errors into a
/// [`Problem`] naming the field.
fn decode<T: DeserializeOwned>(
    label: &str,
    value: &Value,
    warnings: &mut Vec<String>,
) -> Result<T, Problem> {
    let mut unknown = Vec::new();
    let mut track = |path: serde_ignored::Path| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(value.clone(), &mut track);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    match result {
        Ok(t) => {
            for f in unknown {
                warnings.push(format!("{label}: unknown field {f:?} (ignored)"));
            }
            Ok(t)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            Err(Problem {
                document: label.to_string(),
                field: if path == "." { String::new() } else { path },
                value: None,
                reason: inner,
            })
        }
    }
}

/// A YAML value parsed leniently: duplicate mapping keys keep the last value and are recorded.
struct Lenient {
    value: Value,
    duplicates: Vec<String>,
}

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor)
    }
}

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = Lenient;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Lenient, E> {
        Ok(plain(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Lenient, E> {
        Ok(plain(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Lenient, E> {
        Ok(plain(Value::Number(v.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Lenient, E> {
        Ok(plain(Value::Number(v.into())))
    }
    fn visit_str<E>(self, v: &str) -> Result<Lenient, E> {
        Ok(plain(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Lenient, E> {
        Ok(plain(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Lenient, E> {
        Ok(plain(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Lenient, E> {
        Ok(plain(Value::Null))
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Lenient, D::Error> {
        Lenient::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient, A::Error> {
        let mut items = Vec::new();
        let mut duplicates = Vec::new();
        let mut i = 0usize;
        while let Some(item) = seq.next_element::<Lenient>()? {
            duplicates.extend(item.duplicates.into_iter().map(|d| format!("{i}.{d}")));
            items.push(item.value);
            i += 1;
        }
        Ok(Lenient {
            value: Value::Sequence(items),
            duplicates,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient, A::Error> {
        let mut out = serde_yaml::Mapping::new();
        let mut duplicates = Vec::new();
        while let Some((k, v)) = map.next_entry::<Lenient, Lenient>()? {
            let key_name = match &k.value {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            duplicates.extend(v.duplicates.into_iter().map(|d| format!("{key_name}.{d}")));
            if out.insert(k.value, v.value).is_some() {
                duplicates.push(key_name);
            }
        }
        Ok(Lenient {
            value: Value::Mapping(out),
            duplicates,
        })
    }
}

fn plain(value: Value) -> Lenient {
    Lenient {
        value,
        duplicates: Vec::new(),
    }
}
