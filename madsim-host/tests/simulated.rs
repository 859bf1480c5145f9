//! Under `--cfg madsim`: the same host code as simulated nodes, seeded by `MADSIM_TEST_SEED`. The syncing node
//! is killed and restarted mid-download (it starts again from a fresh trie) and its link to one server is
//! clogged for a while; it must still reach the tip with the tip's root.
//!
//! `cargo test` runs this file through `tests/madsim_mode.rs`, which builds it with `--cfg madsim`.
#![cfg(madsim)]

use madsim::net::{Endpoint, NetSim};
use madsim::runtime::{Handle, Runtime};
use madsim::time::{sleep, Duration};
use madsim_host::{check, produce, serve, shared_chain, sync, HostScenario, NodeReport};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

fn seed() -> u64 {
    std::env::var("MADSIM_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

#[test]
fn madsim_cfg_is_set() {
    assert!(cfg!(madsim), "built without --cfg madsim: the simulation would silently be the real network");
}

#[test]
fn simulated_nodes_sync_through_kill_restart_and_a_clogged_link() {
    let scenario = HostScenario {
        seed: 5,
        accounts: 400,
        servers: 3,
        blocks: 60,
        block_time_ms: 500,
        chunk_size_max: 25,
        ops_per_block_max: 20,
    };
    let runtime = Runtime::with_seed_and_config(seed(), madsim::Config::default());
    let (report, outcome) = runtime.block_on(async move {
        let handle = Handle::current();
        let shared = shared_chain(&scenario);
        let config = scenario.engine_config();
        let node_addr: SocketAddr = "10.0.0.1:700".parse().expect("an address");
        let server_addrs: Vec<SocketAddr> =
            (0..scenario.servers).map(|i| format!("10.0.0.{}:700", i + 2).parse().expect("an address")).collect();
        let mut server_nodes = Vec::new();
        for (index, addr) in server_addrs.iter().copied().enumerate() {
            let (shared, config) = (shared.clone(), config.clone());
            let node = handle
                .create_node()
                .name(format!("server-{index}"))
                .ip(addr.ip())
                .init(move || {
                    let (shared, config) = (shared.clone(), config.clone());
                    async move {
                        let endpoint = Endpoint::bind(addr).await.expect("bind a server");
                        serve(shared, index as u32, endpoint, node_addr, config).await;
                    }
                })
                .build();
            server_nodes.push(node.id());
        }
        let slot: Arc<Mutex<Option<NodeReport>>> = Arc::default();
        let syncing = {
            let (shared, config, slot, servers) = (shared.clone(), config.clone(), slot.clone(), server_addrs.clone());
            handle
                .create_node()
                .name("syncing")
                .ip(node_addr.ip())
                .init(move || {
                    let (shared, config, slot, servers) =
                        (shared.clone(), config.clone(), slot.clone(), servers.clone());
                    async move {
                        let endpoint = Endpoint::bind(node_addr).await.expect("bind the node");
                        let report = sync(shared, endpoint, servers, config, scenario.blocks, 120_000).await;
                        *slot.lock().expect("no poison") = Some(report);
                    }
                })
                .build()
        };
        let producer = handle.create_node().name("producer").build();
        producer.spawn(produce(shared.clone(), scenario.blocks, scenario.block_time_ms));
        // Kill the syncing node mid-download; it restarts with a fresh engine and trie.
        sleep(Duration::from_millis(3_000)).await;
        handle.kill(syncing.id());
        sleep(Duration::from_millis(1_000)).await;
        handle.restart(syncing.id());
        // Clog its link to the first server for a while.
        NetSim::current().clog_link(syncing.id(), server_nodes[0]);
        sleep(Duration::from_millis(4_000)).await;
        NetSim::current().unclog_link(syncing.id(), server_nodes[0]);
        let report = loop {
            if let Some(report) = slot.lock().expect("no poison").take() {
                break report;
            }
            sleep(Duration::from_millis(200)).await;
        };
        let outcome = check(&shared, &report);
        (report, outcome)
    });
    outcome.unwrap_or_else(|difference| panic!("seed {}: {difference}; {report:?}", seed()));
    assert!(report.head_number >= 60, "followed the chain to its end");
}
