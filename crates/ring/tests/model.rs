//! Specification by model: any sequence of operations on the ring behaves like a bounded queue.

use proptest::prelude::*;
use shmring_ring::{with_capacity, PushError};
use std::collections::VecDeque;

#[derive(Debug, Clone)]
enum Op {
    Push(Vec<u8>),
    PushBatch(Vec<Vec<u8>>),
    Pop,
    PeekRelease,
    PopBatch(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..140);
    prop_oneof![
        3 => bytes.clone().prop_map(Op::Push),
        1 => proptest::collection::vec(bytes, 0..6).prop_map(Op::PushBatch),
        3 => Just(Op::Pop),
        1 => Just(Op::PeekRelease),
        1 => (0usize..5).prop_map(Op::PopBatch),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else if cfg!(debug_assertions) { 256 } else { 2048 }))]
    #[test]
    fn the_ring_behaves_like_a_fifo_queue(cap_log in 5u32..10, ops in proptest::collection::vec(op(), 1..200)) {
        let capacity = 1usize << cap_log;
        let (mut producer, mut consumer) = with_capacity(capacity);
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let max = producer.max_payload_len();
        for op in ops {
            match op {
                Op::Push(data) => match producer.push(&data) {
                    Ok(()) => model.push_back(data),
                    Err(PushError::TooLarge { .. }) => prop_assert!(data.len() > max),
                    Err(PushError::Full) => prop_assert!(!model.is_empty(), "an empty ring refused a record that fits"),
                    Err(PushError::Corrupt) => prop_assert!(false, "corrupt without a hostile peer"),
                },
                Op::PushBatch(items) => {
                    if let Ok(n) = producer.push_batch(&items) {
                        model.extend(items.into_iter().take(n));
                    }
                }
                Op::Pop => prop_assert_eq!(consumer.pop().unwrap(), model.pop_front()),
                Op::PeekRelease => {
                    let peeked = consumer.peek().unwrap().map(|r| r.to_vec());
                    prop_assert_eq!(peeked.as_ref(), model.front());
                    if peeked.is_some() {
                        consumer.release();
                        model.pop_front();
                    }
                }
                Op::PopBatch(max) => {
                    let mut got = Vec::new();
                    consumer.pop_batch(max, |r| got.push(r.to_vec())).unwrap();
                    let expected: Vec<_> = (0..got.len()).filter_map(|_| model.pop_front()).collect();
                    prop_assert_eq!(got.len(), max.min(got.len() + model.len()).min(max));
                    prop_assert_eq!(got, expected);
                }
            }
        }
        while let Some(expected) = model.pop_front() {
            prop_assert_eq!(consumer.pop().unwrap(), Some(expected));
        }
        prop_assert_eq!(consumer.pop().unwrap(), None);
    }
}
