//! Without `--cfg madsim`: the same host code on real tokio over loopback TCP, in real time.
#![cfg(not(madsim))]

use madsim::net::Endpoint;
use madsim_host::{check, produce, serve, shared_chain, sync, HostScenario};

#[test]
fn real_tokio_nodes_sync_over_loopback() {
    let scenario = HostScenario {
        seed: 3,
        accounts: 300,
        servers: 2,
        blocks: 20,
        block_time_ms: 50,
        chunk_size_max: 40,
        ops_per_block_max: 20,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let shared = shared_chain(&scenario);
        let config = scenario.engine_config();
        let node = Endpoint::bind("127.0.0.1:0").await.expect("bind the node");
        let node_addr = node.local_addr().expect("an address");
        let mut servers = Vec::new();
        for index in 0..scenario.servers {
            let endpoint = Endpoint::bind("127.0.0.1:0").await.expect("bind a server");
            servers.push(endpoint.local_addr().expect("an address"));
            tokio::spawn(serve(shared.clone(), index, endpoint, node_addr, config.clone()));
        }
        tokio::spawn(produce(shared.clone(), scenario.blocks, scenario.block_time_ms));
        let report = sync(shared.clone(), node, servers, config, scenario.blocks, 30_000).await;
        check(&shared, &report).expect("synced to the tip over real sockets");
        assert!(report.inputs > 10, "messages really went over the wire: {report:?}");
    });
}
