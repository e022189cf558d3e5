use super::*;

fn valid(id: &str) -> Vec<u8> {
    serde_json::json!({"event_id": id, "timestamp": "2026-11-26T00:00:00Z", "source": "s",
        "event_type": "t", "payload": {"server": "ws"}})
    .to_string()
    .into_bytes()
}

#[test]
fn a_batch_tracks_rows_dead_letters_and_the_highest_offset_per_partition() {
    let mut batch = Batch::default();
    assert!(batch.is_empty() && batch.started.is_none());
    batch.add(0, 7, Some(b"k1"), Some(&valid("a")));
    batch.add(1, 3, None, Some(b"not json"));
    batch.add(0, 5, None, Some(&valid("b")));
    batch.add(2, 0, None, None);
    assert_eq!(batch.messages, 4);
    assert!(batch.started.is_some());
    assert_eq!(batch.rows.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let dead: Vec<(i32, i64, &str)> =
        batch.dead.iter().map(|d| (d.partition, d.offset, d.reason.code())).collect();
    assert_eq!(dead, [(1, 3, "not_json"), (2, 0, "not_json")]);
    assert_eq!(batch.offsets, BTreeMap::from([(0, 7), (1, 3), (2, 0)]), "commit covers every message seen");
}

#[test]
fn long_dead_letter_errors_are_cut_at_a_character_boundary() {
    assert_eq!(truncate("abc", 10), "abc");
    assert_eq!(truncate("abcdef", 3), "abc");
    assert_eq!(truncate("aé", 2), "a");
}
