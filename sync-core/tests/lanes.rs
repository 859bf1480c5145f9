//! Lanes (docs/protocol.md §2.13, §4.12) through the harness: requests, bounds, completion; the responder's
//! bounded chunks and its error value; the configuration's lane counts.

mod harness;

use harness::{Behavior, Harness};
use sync_core::responder::respond;
use sync_core::wire::{Request, Response};
use sync_core::{Config, Event, Key, SyncEngine, Trie};

fn config(lanes: u32) -> Config {
    Config { chunk_size_max: 10, lanes, chunk_requests_in_flight: lanes as u8, ..Config::scaled(4) }
}

/// Four lanes from one honest peer: every chunk request names its lane's end (none for the last lane), all four
/// lanes are asked at once, each lane finishes with `LaneComplete` but the last, and the node completes with
/// the state's root.
#[test]
fn four_lanes_sync_from_one_peer() {
    let mut h = Harness::new(config(4), 95);
    let genesis = h.chain.genesis;
    h.join(1, genesis, Behavior::Honest);
    h.assert_synced();
    let bounds: Vec<Option<Key>> = h
        .requests
        .iter()
        .filter_map(|(_, r)| match r {
            Request::Chunk { end_bound, .. } => Some(end_bound.clone()),
            _ => None,
        })
        .collect();
    let lane_ends: Vec<Option<Key>> = ["4", "8", "c"].iter().map(|k| Key::from_hex(k).ok()).chain([None]).collect();
    assert_eq!(bounds[..4], lane_ends[..], "the first four requests open the four lanes, each bounded by its end");
    assert!(bounds.iter().all(|bound| lane_ends.contains(bound)), "every request names a lane's end");
    assert_eq!(h.count(|e| matches!(e, Event::LaneComplete { .. })), 3, "three lanes finish before the last");
    assert_eq!(h.count(|e| matches!(e, Event::StateComplete { .. })), 1);
}

/// Lane counts outside 1, 2, 4, 8, 16 are a configuration error, never a panic.
#[test]
fn a_lane_count_outside_the_set_is_a_config_error() {
    let h = Harness::new(config(1), 5);
    let checkpoint = h.chain.block(&h.chain.genesis);
    for lanes in [0, 3, 5, 32] {
        let config = Config { lanes, ..Config::scaled(4) };
        assert!(config.validate().is_err(), "lanes = {lanes}");
        let seals = std::sync::Arc::new(h.chain.seals.clone());
        let engine = SyncEngine::new(config, 1, checkpoint.clone(), seals, Trie::fresh());
        assert!(engine.is_err(), "lanes = {lanes} is refused");
    }
    for lanes in [1, 2, 4, 8, 16] {
        assert!(Config { lanes, ..Config::scaled(4) }.validate().is_ok(), "lanes = {lanes}");
    }
}

/// The responder cuts at a lane's end and answers anything else with `BadEndBound`, an error value.
#[test]
fn the_responder_cuts_at_the_end_bound_and_refuses_a_bad_one() {
    let h = Harness::new(config(1), 200);
    let view = h.chain.view(h.chain.genesis);
    let config = Config { chunk_size_max: 1_000, ..Config::scaled(4) };
    let ask = |start: &str, bound: &str| Request::Chunk {
        start_key: Key::from_hex(start).unwrap(),
        limit: 1_000,
        end_bound: Key::from_hex(bound).ok(),
    };
    let Response::Chunk { chunk, .. } = respond(&view, &ask("4", "8"), &config) else { panic!("a chunk") };
    let (four, eight) = (Key::from_hex("4").unwrap(), Key::from_hex("8").unwrap());
    assert!(!chunk.items.is_empty() && chunk.items.iter().all(|(k, _)| *k >= four && *k < eight), "lane [4, 8) only");
    assert_eq!(chunk.end, Some(eight), "the lane exhausted: the chunk ends at the bound");
    for (start, bound) in [("8", "4"), ("4", "4"), ("4", "80"), ("", "")] {
        let request = Request::Chunk {
            start_key: Key::from_hex(start).unwrap(),
            limit: 10,
            end_bound: Some(Key::from_hex(bound).unwrap()),
        };
        assert_eq!(respond(&view, &request, &config), Response::BadEndBound, "start {start}, bound {bound}");
    }
}
