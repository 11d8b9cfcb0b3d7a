//! Criterion benches of the ring alone, inside one process (the two-process figures live in
//! `benchmark/`): single-thread push+pop cost per record, and a two-thread stream.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shmring_ring::with_capacity;

fn push_pop_same_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("push_pop_same_thread");
    for size in [8usize, 64, 1024] {
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            let (mut producer, mut consumer) = with_capacity(1 << 16);
            let data = vec![7u8; size];
            let mut buf = vec![0u8; size];
            b.iter(|| {
                producer.push(&data).unwrap();
                consumer.pop_into(&mut buf).unwrap().unwrap()
            });
        });
    }
    group.finish();
}

fn stream_two_threads(c: &mut Criterion) {
    const BATCH: u64 = 100_000;
    let mut group = c.benchmark_group("stream_two_threads_64B");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("push/pop_batch", |b| {
        b.iter(|| {
            let (mut producer, mut consumer) = with_capacity(1 << 16);
            let writer = std::thread::spawn(move || {
                let data = [1u8; 64];
                let mut sent = 0;
                while sent < BATCH {
                    if producer.push(&data).is_ok() {
                        sent += 1;
                    }
                }
            });
            let mut received = 0u64;
            while received < BATCH {
                received += consumer.pop_batch(usize::MAX, |r| assert_eq!(r.len(), 64)).unwrap() as u64;
            }
            writer.join().unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, push_pop_same_thread, stream_two_threads);
criterion_main!(benches);
