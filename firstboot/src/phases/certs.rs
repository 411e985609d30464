//! Phase `certs`: the cluster CAs, serving/client certificates and the service-account key pair
//! under `certificatesDir` (keys 0600, certificates 0644, directory 0755) via the PKI library.

use super::{Context, Phase, Plan, PlanItem};
use crate::pki::{self, ItemKind, PkiParams};

/// The `certs` phase.
pub struct Certs;

/// [`PkiParams`] for this node.
pub fn pki_params(ctx: &Context) -> anyhow::Result<PkiParams> {
    let cfg = ctx.config;
    let c = &cfg.cluster;
    let ep = cfg
        .local_api_endpoint()
        .ok_or_else(|| anyhow::anyhow!("the certs phase needs a control-plane node"))?;
    let adv = cfg.advertise_address().ok_or_else(|| {
        anyhow::anyhow!(
            "localAPIEndpoint.advertiseAddress {:?} is not an IP address",
            ep.advertise_address
        )
    })?;
    let mut p = PkiParams::new(ctx.path(&c.certificates_dir), cfg.node_name(), adv);
    p.bind_port = u16::try_from(ep.bind_port)?;
    p.control_plane_endpoint =
        (!c.control_plane_endpoint.is_empty()).then(|| c.control_plane_endpoint.clone());
    p.service_subnet = c.networking.service_subnet.clone();
    p.dns_domain = c.networking.dns_domain.clone();
    p.apiserver_cert_sans = c.api_server.cert_sans.clone();
    if let Some(local) = &c.etcd.local {
        p.etcd_server_cert_sans = local.server_cert_sans.clone();
        p.etcd_peer_cert_sans = local.peer_cert_sans.clone();
    }
    p.local_etcd = cfg.has_local_etcd();
    p.encryption_algorithm = c.encryption_algorithm.parse()?;
    let dur = |d: Option<crate::config::GoDuration>,
               def: time::Duration|
     -> anyhow::Result<time::Duration> {
        match d {
            Some(d) => Ok(time::Duration::try_from(d.as_duration())?),
            None => Ok(def),
        }
    };
    p.ca_validity = dur(c.ca_certificate_validity_period, pki::DEFAULT_CA_VALIDITY)?;
    p.cert_validity = dur(c.certificate_validity_period, pki::DEFAULT_CERT_VALIDITY)?;
    p.start_time = time::OffsetDateTime::from(ctx.start_time);
    Ok(p)
}

impl Phase for Certs {
    fn name(&self) -> &'static str {
        "certs"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let lib = pki::plan(&pki_params(ctx)?)?;
        let mut plan = Plan::new("certs");
        for it in lib.items.iter().filter(|i| ctx.selected("certs", &i.name)) {
            for f in &it.files {
                let path = ctx.node_path(&f.path);
                if f.write {
                    plan.items.push(PlanItem::Generate {
                        path,
                        mode: f.mode,
                        what: format!("{} ({:?})", it.name, it.action),
                    });
                } else {
                    plan.items.push(PlanItem::Keep {
                        path,
                        what: format!("{} ({:?})", it.name, it.action),
                    });
                }
            }
        }
        plan.items
            .extend(lib.warnings.iter().map(|w| PlanItem::Note(w.clone())));
        Ok(plan)
    }

    /// Applies the library's plan: the whole phase in one apply (keys generated in parallel,
    /// written item by item); a sub-phase one certificate at a time (CAs from earlier steps are
    /// on disk by then and are loaded as signers). A crash leaves whole items behind.
    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        let full = pki::plan(&pki_params(ctx)?)?;
        let mut done = 0;
        if full.items.iter().all(|i| ctx.selected("certs", &i.name)) {
            // The whole phase: one apply, keys generated in parallel, progress per item.
            full.apply_with(&mut |it| {
                done += it.files.len();
                progress(done);
            })?;
            return Ok(());
        }
        for it in full.items.iter().filter(|i| ctx.selected("certs", &i.name)) {
            let mut step = full.clone();
            step.items = full
                .items
                .iter()
                .filter(|x| x.kind == ItemKind::Ca && x.name != it.name)
                .map(|x| {
                    let mut x = x.clone();
                    x.action = pki::Action::Reuse;
                    x
                })
                .collect();
            step.items.push(it.clone());
            for w in step.apply()?.written {
                tracing::debug!("[certs] wrote {}", w.display());
            }
            done += it.files.len();
            progress(done);
        }
        Ok(())
    }
}
