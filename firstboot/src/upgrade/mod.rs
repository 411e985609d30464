//! Air-gapped upgrades: where version answers come from ([`getters`]) and kubeadm's
//! available-upgrade computation ([`plan`]), the pre-upgrade cluster health checks
//! ([`health`]).

pub mod getters;
pub mod health;
pub mod plan;
