//! Pure membership rules: the joining member's `--initial-cluster` (spec §5.6/§5.7) and the
//! quorum arithmetic behind [`super::EtcdClient::remove_would_break_quorum`].

use crate::manifests::EtcdMember;

use super::types::Member;

/// The members a joining node lists in its etcd manifest's `--initial-cluster`, as kubeadm
/// builds them from the member-add answer: every member in order, by its first peer URL; the
/// member whose first peer URL is `new_peer` under `new_name`; a member without a name under
/// its ID in lower-case hex. Members without peer URLs are left out.
///
/// The result goes into [`crate::manifests::EtcdMembership::Join`].
pub fn join_members(members: &[Member], new_name: &str, new_peer: &str) -> Vec<EtcdMember> {
    members
        .iter()
        .filter_map(|m| {
            let peer = m.peer_urls.first()?;
            let name = if peer == new_peer {
                new_name.to_string()
            } else {
                m.display_name()
            };
            Some(EtcdMember {
                name,
                peer_url: peer.clone(),
            })
        })
        .collect()
}

/// The value of a joining member's `--initial-cluster` flag (`cp1=https://10.0.0.4:2380,
/// cp2=https://10.0.0.5:2380`), used with `--initial-cluster-state=existing`; see
/// [`join_members`].
pub fn initial_cluster_arg(members: &[Member], new_name: &str, new_peer: &str) -> String {
    join_members(members, new_name, new_peer)
        .iter()
        .map(|m| format!("{}={}", m.name, m.peer_url))
        .collect::<Vec<_>>()
        .join(",")
}

/// Raft quorum of `voters` voting members (`voters / 2 + 1`).
pub fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// Whether removing member `id` is unsafe, given the members whose endpoints answer
/// (`healthy`): see [`removal_blocker`], which also says why.
pub fn would_break_quorum(members: &[Member], healthy: &[u64], id: u64) -> bool {
    removal_blocker(members, healthy, id).is_some()
}

/// Why removing member `id` would leave the cluster without quorum, given the members whose
/// endpoints answer (`healthy`), or `None` when it is safe:
///
/// - the healthy voters are already fewer than a quorum (the removal could not even be
///   committed, and the cluster is down) — [`QuorumProblem::NoQuorumNow`];
/// - `id` is the last voter;
/// - the healthy voters left after the removal are fewer than the new, smaller quorum.
///
/// Removing a learner or an ID that is not a member changes no quorum (`None`, unless the
/// cluster has no quorum now). Members are named by name (or hex ID) and client URLs.
pub fn removal_blocker(members: &[Member], healthy: &[u64], id: u64) -> Option<QuorumProblem> {
    let voters: Vec<&Member> = members.iter().filter(|m| !m.is_learner).collect();
    let healthy_voters = voters.iter().filter(|m| healthy.contains(&m.id)).count();
    if healthy_voters < quorum(voters.len()) {
        let down: Vec<String> = voters
            .iter()
            .filter(|m| !healthy.contains(&m.id))
            .map(|m| describe(m))
            .collect();
        return Some(QuorumProblem::NoQuorumNow(format!(
            "the etcd cluster has no quorum now: {healthy_voters} of {} voting members answer, {} needed \
             (not answering: {})",
            voters.len(),
            quorum(voters.len()),
            down.join(", ")
        )));
    }
    let target = voters.iter().find(|m| m.id == id)?;
    let remaining = voters.len() - 1;
    if remaining == 0 {
        return Some(QuorumProblem::AfterRemoval(format!(
            "{} is the last voting member",
            describe(target)
        )));
    }
    let healthy_remaining = healthy_voters - usize::from(healthy.contains(&target.id));
    (healthy_remaining < quorum(remaining)).then(|| {
        QuorumProblem::AfterRemoval(format!(
            "after removing {} only {healthy_remaining} of the remaining {remaining} voting members \
             would answer, fewer than the quorum of {}",
            describe(target),
            quorum(remaining)
        ))
    })
}

/// Why a member removal would break quorum ([`removal_blocker`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumProblem {
    /// The cluster has no quorum now: a removal cannot even be committed.
    NoQuorumNow(String),
    /// The removal can be committed but leaves too few healthy voters.
    AfterRemoval(String),
}

impl QuorumProblem {
    /// The explanation.
    pub fn reason(&self) -> &str {
        match self {
            QuorumProblem::NoQuorumNow(r) | QuorumProblem::AfterRemoval(r) => r,
        }
    }
}

impl std::fmt::Display for QuorumProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// `name (https://client-url)` of a member, for messages.
fn describe(m: &Member) -> String {
    match m.client_urls.first().or(m.peer_urls.first()) {
        Some(u) => format!("{} ({u})", m.display_name()),
        None => m.display_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u64, name: &str, peer: &str, learner: bool) -> Member {
        Member {
            id,
            name: name.into(),
            peer_urls: vec![peer.into()],
            client_urls: vec![],
            is_learner: learner,
        }
    }

    #[test]
    fn initial_cluster_names_new_member_and_unnamed_by_hex_id() {
        let members = vec![
            m(1, "cp1", "https://10.0.0.4:2380", false),
            m(0xabc, "", "https://10.0.0.6:2380", true),
            m(7, "", "https://10.0.0.5:2380", true),
        ];
        assert_eq!(
            initial_cluster_arg(&members, "cp2", "https://10.0.0.5:2380"),
            "cp1=https://10.0.0.4:2380,abc=https://10.0.0.6:2380,cp2=https://10.0.0.5:2380"
        );
        let j = join_members(&members, "cp2", "https://10.0.0.5:2380");
        assert_eq!(j.len(), 3);
        assert_eq!(j[2].name, "cp2");
    }

    #[test]
    fn quorum_sizes() {
        assert_eq!((1..=5).map(quorum).collect::<Vec<_>>(), vec![1, 2, 2, 3, 3]);
    }

    #[test]
    fn quorum_rules() {
        let a = m(1, "a", "p1", false);
        let b = m(2, "b", "p2", false);
        let c = m(3, "c", "p3", false);
        let l = m(4, "l", "p4", true);
        // single member: removing it leaves nothing
        assert!(would_break_quorum(std::slice::from_ref(&a), &[1], 1));
        // two healthy voters: one may go
        assert!(!would_break_quorum(&[a.clone(), b.clone()], &[1, 2], 2));
        // two voters, one down: no quorum now
        assert!(would_break_quorum(&[a.clone(), b.clone()], &[1], 2));
        // three voters, one down: removing the down one leaves 2 of 2
        assert!(!would_break_quorum(
            &[a.clone(), b.clone(), c.clone()],
            &[1, 2],
            3
        ));
        // three voters, one down: removing a healthy one leaves 1 of 2
        assert!(would_break_quorum(
            &[a.clone(), b.clone(), c.clone()],
            &[1, 2],
            1
        ));
        // learners never count
        assert!(!would_break_quorum(&[a.clone(), l.clone()], &[1], 4));
        assert!(would_break_quorum(&[a.clone(), l.clone()], &[1, 4], 1));
        // unknown ID: nothing changes
        assert!(!would_break_quorum(&[a.clone(), b.clone()], &[1, 2], 99));
    }

    #[test]
    fn removal_blocker_names_the_reason() {
        let a = m(1, "a", "https://10.0.0.4:2380", false);
        let b = m(2, "b", "https://10.0.0.5:2380", false);
        let c = m(3, "c", "https://10.0.0.6:2380", false);
        match removal_blocker(&[a.clone(), b.clone()], &[2], 2) {
            Some(QuorumProblem::NoQuorumNow(r)) => {
                assert!(r.contains("1 of 2 voting members answer"), "{r}");
                assert!(r.contains("a (https://10.0.0.4:2380)"), "{r}");
                assert!(!r.contains("b ("), "{r}");
            }
            other => panic!("{other:?}"),
        }
        match removal_blocker(std::slice::from_ref(&a), &[1], 1) {
            Some(QuorumProblem::AfterRemoval(r)) => {
                assert!(r.contains("last voting member"), "{r}")
            }
            other => panic!("{other:?}"),
        }
        match removal_blocker(&[a.clone(), b.clone(), c.clone()], &[1, 2], 1) {
            Some(QuorumProblem::AfterRemoval(r)) => {
                assert!(r.contains("only 1 of the remaining 2"), "{r}");
                assert!(r.contains("quorum of 2"), "{r}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(removal_blocker(&[a, b, c], &[1, 2], 3), None);
    }
}
