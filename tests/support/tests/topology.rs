//! The topology launchers form what they promise.

use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::topology::{NatsCluster, RedisCluster, RedisSentinel};

#[test]
fn nats_cluster_forms_and_heals() {
    let Some(mut cluster) = skip_or_fail(NatsCluster::start(3)) else { return };
    assert_eq!(cluster.urls().len(), 3);
    cluster.kill(1);
    cluster.restart(1).expect("the node rejoins");
}

#[test]
fn redis_sentinel_fails_over_to_the_replica() {
    let Some(mut topology) = skip_or_fail(RedisSentinel::start()) else { return };
    assert!(topology.url().starts_with("redis+sentinel://127.0.0.1:"));
    let before = topology.master_port().expect("a master");
    let killed = topology.kill_master().expect("kill");
    let after = topology.wait_failover(killed).expect("failover");
    assert_ne!(before, after);
    topology.restart(killed).expect("the old master comes back and the topology is whole again");
    // `restart` waited for one master with an online replica that every
    // Sentinel agrees on. That master is normally the promoted replica; with
    // `down-after-milliseconds 1000`, a machine busy enough to stall it for a
    // second (its full resync of the returning node forks) makes the
    // Sentinels fail over once more, back to the returning node, which is as
    // whole a topology. Either way it is one of the two data nodes.
    let master = topology.master_port().expect("a master after the restart");
    assert!(master == after || master == before, "master {master} is neither data node ({before}, {after})");
}

#[test]
fn redis_cluster_fails_over_a_master() {
    let Some(mut cluster) = skip_or_fail(RedisCluster::start(3)) else { return };
    let master = cluster.kill_master_of(0).expect("slot 0 is served");
    let new_master = cluster.wait_failover(0, master).expect("a replica takes slot 0 over");
    assert_ne!(master, new_master);
    cluster.restart(master).expect("the old master rejoins");
}
