//! Criterion benches of the hot loops (`ddbench::speed::workloads`: train steps, GUARD and
//! PGD-AT teacher steps, PGD-10 and Square through the plugin ABI, a DD student), on CUDA when
//! one is visible, else the CPU (batch 256 / 32, as `ddbench speed`). Throughput is images per
//! second. `cargo bench -p ddbench --bench hot_loops -- --test` runs each once (CI's smoke run);
//! `ddbench speed --compare` gives the same figures beside eager PyTorch.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

fn hot_loops(c: &mut Criterion) {
    let dev = tch::Device::cuda_if_available();
    let batch = if dev.is_cuda() { 256 } else { 32 };
    let mut group = c.benchmark_group(if dev.is_cuda() { "cuda" } else { "cpu" });
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for mut w in ddbench::speed::workloads::all(dev, batch, Default::default())
        .expect("workloads (are the plugins built?)")
    {
        group.throughput(Throughput::Elements(w.images as u64));
        group.bench_function(&w.figure, |b| {
            b.iter(|| {
                (w.run)();
                if let tch::Device::Cuda(i) = dev {
                    tch::Cuda::synchronize(i as i64);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hot_loops);
criterion_main!(benches);
