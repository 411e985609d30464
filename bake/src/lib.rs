//! bake's library: staging a verified bundle into a node root ([`stage`]) and checking an image
//! for node-specific or secret state ([`check`]). The `bake` binary is a thin CLI over these;
//! firstboot's upgrades reuse [`stage`].

pub mod check;
pub mod stage;
