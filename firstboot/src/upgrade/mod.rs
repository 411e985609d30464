//! Air-gapped upgrades: where version answers come from ([`getters`]) and kubeadm's
//! available-upgrade computation ([`plan`]).

pub mod getters;
pub mod plan;
