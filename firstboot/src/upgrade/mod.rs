//! Air-gapped upgrades: where version answers come from ([`getters`]), kubeadm's
//! available-upgrade computation ([`plan`]), and `upgrade apply` / `upgrade rollback`: one
//! module per step ([`health`], [`prepare`], [`backup`], [`staticpod`], [`kubelet_conf`],
//! [`kubelet_config`], the Corefile decision of a CoreDNS upgrade in [`coredns`]), the
//! orchestration ([`apply`]), the journal ([`journal`]) and the way back ([`rollback`]).

pub mod apply;
pub mod backup;
pub mod coredns;
pub mod getters;
pub mod health;
pub mod journal;
pub mod kubelet_conf;
pub mod kubelet_config;
pub mod plan;
pub mod prepare;
pub mod rollback;
pub mod staticpod;
