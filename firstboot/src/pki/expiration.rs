//! `certs check-expiration` (spec §15.3): expiration rows for the managed certificates, the
//! kubeconfig-embedded client certificates and the CAs, as kubeadm's table or its
//! `CertificateExpirationInfo` JSON.

use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::certs::{applicable_certs, CaKind};
use super::error::{PkiError, Result};
use super::fsutil::exists;
use super::renew::{is_externally_managed, RENEWABLE_KUBECONFIGS};
use super::x509::Certificate;
use crate::kubeconfig::Kubeconfig;

/// Inputs of an expiration check.
#[derive(Debug, Clone)]
pub struct ExpirationParams {
    /// `certificatesDir`.
    pub cert_dir: PathBuf,
    /// Directory of the kubeconfig files.
    pub kubeconfig_dir: PathBuf,
    /// Whether etcd is local (its certificates are part of the list).
    pub local_etcd: bool,
    /// Reference time for the residual times (normally now).
    pub now: OffsetDateTime,
}

/// One row (certificate or CA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationRow {
    /// Name (`apiserver`, `admin.conf`, `ca`, ...).
    pub name: String,
    /// NotAfter (`null` when missing).
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiration_date: Option<OffsetDateTime>,
    /// Seconds until expiration (negative when expired; 0 when missing).
    pub residual_time: i64,
    /// Issuing CA (certificates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_name: Option<String>,
    /// Whether the (issuing) CA is externally managed.
    pub externally_managed: bool,
    /// Whether the file is missing.
    pub missing: bool,
}

/// kubeadm's `CertificateExpirationInfo` (`output.kubeadm.k8s.io/v1alpha3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationInfo {
    /// `CertificateExpirationInfo`.
    pub kind: String,
    /// `output.kubeadm.k8s.io/v1alpha3`.
    pub api_version: String,
    /// Leaf and kubeconfig certificates, sorted by name.
    pub certificates: Vec<ExpirationRow>,
    /// CAs, sorted by name.
    pub certificate_authorities: Vec<ExpirationRow>,
}

/// apimachinery's `duration.HumanDuration` (`364d`, `9y`, `2y364d`, `<invalid>`, ...).
pub fn human_duration(d: time::Duration) -> String {
    let seconds = d.whole_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.whole_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.whole_hours();
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn row(
    name: &str,
    cert: Option<&Certificate>,
    ca_name: Option<&str>,
    external: bool,
    now: OffsetDateTime,
) -> ExpirationRow {
    ExpirationRow {
        name: name.to_string(),
        expiration_date: cert.map(|c| c.not_after),
        residual_time: cert
            .map(|c| (c.not_after - now).whole_seconds())
            .unwrap_or(0),
        ca_name: ca_name.map(str::to_string),
        externally_managed: external,
        missing: cert.is_none(),
    }
}

/// Reads every managed certificate, kubeconfig client certificate and CA (files written by
/// firstboot or kubeadm) and returns their expiration rows.
pub fn check_expiration(p: &ExpirationParams) -> Result<ExpirationInfo> {
    let mut external = std::collections::HashMap::new();
    for ca in CaKind::ALL {
        if ca == CaKind::EtcdCa && !p.local_etcd {
            continue;
        }
        external.insert(ca, is_externally_managed(&p.cert_dir, ca, p.local_etcd)?);
    }
    let mut certs = Vec::new();
    let mut cas = Vec::new();
    for info in applicable_certs(p.local_etcd) {
        let path = p.cert_dir.join(format!("{}.crt", info.base_name));
        let cert = if exists(&path) {
            Some(Certificate::read_chain(&path)?.remove(0))
        } else {
            None
        };
        match info.ca {
            Some(ca) => certs.push(row(
                info.name,
                cert.as_ref(),
                Some(ca.name()),
                external[&ca],
                p.now,
            )),
            None => {
                let ca = CaKind::from_name(info.name).unwrap_or(CaKind::Ca);
                cas.push(row(info.name, cert.as_ref(), None, external[&ca], p.now));
            }
        }
    }
    for name in RENEWABLE_KUBECONFIGS {
        let path = p.kubeconfig_dir.join(name);
        let cert = if exists(&path) {
            let kc = Kubeconfig::load(&path)?;
            let pem = kc.client_certificate_pem().ok_or_else(|| {
                PkiError::file(
                    &path,
                    "the current user has no embedded client certificate (client-certificate-data)",
                )
            })?;
            Some(Certificate::parse_pem_chain(&pem, &path)?.remove(0))
        } else {
            None
        };
        certs.push(row(
            name,
            cert.as_ref(),
            Some("ca"),
            external[&CaKind::Ca],
            p.now,
        ));
    }
    certs.sort_by(|a, b| a.name.cmp(&b.name));
    cas.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ExpirationInfo {
        kind: "CertificateExpirationInfo".into(),
        api_version: "output.kubeadm.k8s.io/v1alpha3".into(),
        certificates: certs,
        certificate_authorities: cas,
    })
}

/// Go's `text/tabwriter` with kubeadm's settings (minwidth 10, padding 3, spaces) for one
/// block of lines whose cells are tab-terminated except the last.
fn tabwrite(lines: &[String]) -> String {
    let split: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = split
        .iter()
        .map(|c| c.len().saturating_sub(1))
        .max()
        .unwrap_or(0);
    let mut widths = vec![10usize; cols];
    for cells in &split {
        for (i, c) in cells.iter().take(cells.len() - 1).enumerate() {
            widths[i] = widths[i].max(c.chars().count() + 3);
        }
    }
    let mut out = String::new();
    for cells in &split {
        for (i, c) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                out.push_str(c);
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            } else {
                out.push_str(c);
            }
        }
        out.push('\n');
    }
    out
}

impl ExpirationInfo {
    /// kubeadm's two tables (certificates, empty line, CAs).
    pub fn to_table(&self, now: OffsetDateTime) -> String {
        let fmt_date = |t: OffsetDateTime| {
            let f = time::macros::format_description!(
                "[month repr:short] [day], [year] [hour]:[minute] UTC"
            );
            t.to_offset(time::UtcOffset::UTC)
                .format(&f)
                .unwrap_or_default()
        };
        let yes_no = |b: bool| format!("{:<8}", if b { "yes" } else { "no" });
        let mut t1 = vec![
            "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED"
                .to_string(),
        ];
        for r in &self.certificates {
            match r.expiration_date {
                None => t1.push(format!("!MISSING! {}\t\t\t\t", r.name)),
                Some(exp) => t1.push(format!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.name,
                    fmt_date(exp),
                    human_duration(exp - now),
                    r.ca_name.as_deref().unwrap_or(""),
                    yes_no(r.externally_managed)
                )),
            }
        }
        let mut t2 =
            vec!["CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED".to_string()];
        for r in &self.certificate_authorities {
            match r.expiration_date {
                None => t2.push(format!("!MISSING! {}\t\t\t", r.name)),
                Some(exp) => t2.push(format!(
                    "{}\t{}\t{}\t{}",
                    r.name,
                    fmt_date(exp),
                    human_duration(exp - now),
                    yes_no(r.externally_managed)
                )),
            }
        }
        format!("{}\n{}", tabwrite(&t1), tabwrite(&t2))
    }

    /// kubeadm's `-o json` output.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
