//! Air-gapped upgrades: where version answers come from ([`getters`]), kubeadm's
//! available-upgrade computation ([`plan`]), the pre-upgrade cluster health checks ([`health`])
//! and the Corefile decision and checks of a CoreDNS upgrade ([`coredns`]).

pub mod coredns;
pub mod getters;
pub mod health;
pub mod plan;
