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
/// (`healthy`):
///
/// - the healthy voters are already fewer than a quorum (the removal could not even be
///   committed, and the cluster is down);
/// - `id` is the last voter;
/// - the healthy voters left after the removal are fewer than the new, smaller quorum.
///
/// Removing a learner or an ID that is not a member changes no quorum (`false`, unless the
/// cluster has no quorum now).
pub fn would_break_quorum(members: &[Member], healthy: &[u64], id: u64) -> bool {
    let voters: Vec<&Member> = members.iter().filter(|m| !m.is_learner).collect();
    let healthy_voters = voters.iter().filter(|m| healthy.contains(&m.id)).count();
    if healthy_voters < quorum(voters.len()) {
        return true;
    }
    let Some(target) = voters.iter().find(|m| m.id == id) else {
        return false;
    };
    let remaining = voters.len() - 1;
    if remaining == 0 {
        return true;
    }
    let healthy_remaining = healthy_voters - usize::from(healthy.contains(&target.id));
    healthy_remaining < quorum(remaining)
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
}
