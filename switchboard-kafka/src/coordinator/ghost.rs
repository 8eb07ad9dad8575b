//! A group whose recorded leader is no longer one of its members, and its repair.
//!
//! tansu 0.6 evicts a leader that stopped heartbeating but keeps its member id as the group's
//! leader; every later SyncGroup but the leader's is refused with REBALANCE_IN_PROGRESS, and
//! no member can ever complete a rebalance (docs/backends.md). Apache Kafka elects a new
//! leader among the live members instead, so there this never finds anything to repair.

use std::io;

use bytes::{BufMut as _, BytesMut};
use kafka_protocol::{
    ResponseError,
    messages::{
        ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
        ConsumerProtocolSubscription, DescribeGroupsRequest, DescribeGroupsResponse,
        FindCoordinatorRequest, FindCoordinatorResponse, GroupId, JoinGroupRequest,
        JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest,
        SyncGroupResponse, join_group_request::JoinGroupRequestProtocol,
        leave_group_request::MemberIdentity,
    },
    protocol::{Encodable as _, StrBytes},
};

use super::wire::Wire;

/// What one look at the group found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Finding {
    /// The broker does not say who leads (Apache Kafka: classic groups have no assignor name in
    /// `ConsumerGroupDescribe`): nothing to repair from here.
    LeaderUnknown,
    /// The leader is a member; the rebalance is only slow.
    LeaderAlive(String),
    /// The leader named is not a member: it was cleared and the group resumes.
    Repaired { leader: String },
    /// The leader named is not a member, and clearing it did not succeed.
    NotRepaired { leader: String, reason: String },
}

/// What the repair needs to know about the member asking for it.
pub(crate) struct Asking<'a> {
    pub(crate) brokers: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) group: &'a str,
    pub(crate) topics: &'a [&'a str],
    /// The group's protocol names, as the member's `partition.assignment.strategy` lists them.
    pub(crate) protocols: &'a [&'a str],
    pub(crate) session_timeout_ms: i32,
    pub(crate) request_timeout: std::time::Duration,
}

/// Looks up who leads `asking.group`, and if the leader is not a member, takes its member id
/// for one generation to hand the group an empty assignment and leave it: the group is then
/// leaderless, and the next member to join leads and assigns every partition.
pub(crate) async fn check_and_repair(asking: &Asking<'_>) -> io::Result<Finding> {
    let mut wire = coordinator(
        asking.brokers,
        asking.client_id,
        asking.group,
        asking.request_timeout,
    )
    .await?;
    let Some(leader) = leader(&mut wire, asking.group).await? else {
        return Ok(Finding::LeaderUnknown);
    };
    if members(&mut wire, asking.group).await?.contains(&leader) {
        return Ok(Finding::LeaderAlive(leader));
    }
    Ok(match stand_in(&mut wire, asking, &leader).await {
        Ok(()) => Finding::Repaired { leader },
        Err(err) => Finding::NotRepaired {
            leader,
            reason: err.to_string(),
        },
    })
}

/// The member id the coordinator of `group` records as its leader, where it says (tansu);
/// `None` where it does not (Apache Kafka, for classic groups).
pub(crate) async fn recorded_leader(
    brokers: &str,
    client_id: &str,
    group: &str,
    timeout: std::time::Duration,
) -> io::Result<Option<String>> {
    let mut wire = coordinator(brokers, client_id, group, timeout).await?;
    leader(&mut wire, group).await
}

/// A connection to the group's coordinator, found through the first broker that answers.
async fn coordinator(
    brokers: &str,
    client_id: &str,
    group: &str,
    timeout: std::time::Duration,
) -> io::Result<Wire> {
    let mut wire = Wire::connect(brokers, client_id, timeout).await?;
    let request = FindCoordinatorRequest::default().with_key(text(group));
    let found: FindCoordinatorResponse = wire.call(ApiKey::FindCoordinator, 2, &request).await?;
    broker_error("FindCoordinator", found.error_code)?;
    let address = format!("{}:{}", found.host.as_str(), found.port);
    if address == wire.address() {
        return Ok(wire);
    }
    Wire::connect(&address, client_id, timeout).await
}

/// The member id the coordinator records as the group's leader, where it says.
async fn leader(wire: &mut Wire, group: &str) -> io::Result<Option<String>> {
    let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]);
    // A broker without the request (Kafka before 3.7) closes the connection: it does not say.
    let Ok(described) = wire
        .call::<_, ConsumerGroupDescribeResponse>(ApiKey::ConsumerGroupDescribe, 0, &request)
        .await
    else {
        return Ok(None);
    };
    Ok(described
        .groups
        .into_iter()
        .find(|g| g.error_code == 0 && g.group_id.0.as_str() == group)
        .map(|g| g.assignor_name.as_str().to_owned())
        .filter(|leader| !leader.is_empty()))
}

/// The member ids of the group.
async fn members(wire: &mut Wire, group: &str) -> io::Result<Vec<String>> {
    let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
    let described: DescribeGroupsResponse = wire.call(ApiKey::DescribeGroups, 3, &request).await?;
    let group = described
        .groups
        .into_iter()
        .find(|g| g.group_id.0.as_str() == group)
        .ok_or_else(|| io::Error::other("the group is not described"))?;
    broker_error("DescribeGroups", group.error_code)?;
    Ok(group
        .members
        .into_iter()
        .map(|m| m.member_id.as_str().to_owned())
        .collect())
}

/// Joins as `leader`, completes its generation with an empty assignment, and leaves.
async fn stand_in(wire: &mut Wire, asking: &Asking<'_>, leader: &str) -> io::Result<()> {
    let metadata = subscription(asking.topics)?;
    let protocols: Vec<JoinGroupRequestProtocol> = asking
        .protocols
        .iter()
        .map(|name| {
            JoinGroupRequestProtocol::default()
                .with_name(text(name))
                .with_metadata(metadata.clone())
        })
        .collect();
    let join = JoinGroupRequest::default()
        .with_group_id(group_id(asking.group))
        .with_session_timeout_ms(asking.session_timeout_ms)
        .with_rebalance_timeout_ms(asking.session_timeout_ms)
        .with_member_id(text(leader))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(protocols);
    // A member's join between ours and our sync starts a new generation: join again.
    let mut synced = Err(io::Error::other("no attempt"));
    for _ in 0..3 {
        let joined: JoinGroupResponse = wire.call(ApiKey::JoinGroup, 5, &join).await?;
        broker_error("JoinGroup", joined.error_code)?;
        if joined.leader.as_str() != leader {
            // Someone else leads now: the group is unstuck already.
            synced = Ok(());
            break;
        }
        let sync = SyncGroupRequest::default()
            .with_group_id(group_id(asking.group))
            .with_generation_id(joined.generation_id)
            .with_member_id(text(leader));
        let answer: SyncGroupResponse = wire.call(ApiKey::SyncGroup, 3, &sync).await?;
        synced = broker_error("SyncGroup", answer.error_code);
        if answer.error_code != ResponseError::RebalanceInProgress.code() {
            break;
        }
    }
    // Leave whatever happened: the stand-in must not stay a member.
    let leave = LeaveGroupRequest::default()
        .with_group_id(group_id(asking.group))
        .with_members(vec![MemberIdentity::default().with_member_id(text(leader))]);
    let left: LeaveGroupResponse = wire.call(ApiKey::LeaveGroup, 3, &leave).await?;
    broker_error("LeaveGroup", left.error_code)?;
    synced
}

/// A consumer-protocol subscription to `topics` (version 0, no user data).
fn subscription(topics: &[&str]) -> io::Result<bytes::Bytes> {
    let subscription = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| text(t)).collect());
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    subscription
        .encode(&mut buf, 0)
        .map_err(|err| io::Error::other(err.to_string()))?;
    Ok(buf.freeze())
}

fn broker_error(request: &str, code: i16) -> io::Result<()> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(err) => Err(io::Error::other(format!("{request}: {err:?}"))),
    }
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn group_id(group: &str) -> GroupId {
    GroupId(text(group))
}

#[cfg(test)]
mod tests {
    use super::subscription;

    #[test]
    fn the_stand_in_subscribes_with_consumer_protocol_version_0() {
        let bytes = subscription(&["a", "bc"]).unwrap();
        // version 0, two topics, "a", "bc", no user data
        let expected: &[u8] = &[
            0, 0, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c', 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(&bytes[..], expected);
    }
}
