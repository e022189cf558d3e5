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

#[test]
fn an_array_message_becomes_one_row_per_envelope_and_dead_letters_per_element() {
    let mut batch = Batch::default();
    let (a, b) = (valid("a"), valid("b"));
    let bad = br#"{"hello": "world"}"#;
    let mut message = b"[".to_vec();
    for (i, part) in [&a[..], bad, &b[..], b"\"text\""].iter().enumerate() {
        if i > 0 {
            message.extend_from_slice(b", ");
        }
        message.extend_from_slice(part);
    }
    message.push(b']');
    batch.add(0, 4, Some(b"k"), Some(&message));
    batch.add(0, 5, None, Some(b"[]"));
    batch.add(1, 9, Some(b"k2"), Some(b"[{\"truncated\": "));
    batch.add(1, 8, None, Some(&valid("c")));
    assert_eq!(batch.messages, 4);
    assert_eq!(batch.rows.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    // (partition, offset, index, reason, value, key) of each dead letter.
    type Dead<'a> = (i32, i64, Option<usize>, &'a str, &'a [u8], Option<&'a [u8]>);
    let dead: Vec<Dead> = batch
        .dead
        .iter()
        .map(|d| (d.partition, d.offset, d.index, d.reason.code(), d.value.as_slice(), d.key.as_deref()))
        .collect();
    assert_eq!(
        dead,
        [
            (0, 4, Some(1), "not_envelope", &bad[..], Some(&b"k"[..])),
            (0, 4, Some(3), "not_envelope", &b"\"text\""[..], Some(&b"k"[..])),
            (1, 9, None, "not_json", &b"[{\"truncated\": "[..], Some(&b"k2"[..])),
        ],
        "an invalid element is dead-lettered alone and unchanged; a message that is not JSON whole"
    );
    assert_eq!(batch.events(), 6, "batch_size counts envelopes, not messages");
    assert_eq!(batch.offsets, BTreeMap::from([(0, 5), (1, 9)]));
}
