//! Criterion benches of the hot loops (`ddbench::speed::workloads`: train steps, GUARD and
//! PGD-AT teacher steps, PGD-10 and Square through the plugin ABI, a DD student), on CUDA when
//! one is visible, else the CPU (batch 256 / 32, as `ddbench speed`). Throughput is images per
//! second. `cargo bench -p ddbench --bench hot_loops -- --test` runs each once (CI's smoke run);
//! `ddbench speed --compare` gives the same figures beside eager PyTorch. `DDBENCH_LEVERS=fused`
//! (any `ddbench speed --levers` list) benches with those levers, in a group named after them
//! (`cpu/fused/convnet3.train_step`), so that criterion compares them with the eager group. The
//! process tunes glibc malloc as the `ddbench` binary does (`ddbench::alloc`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

fn hot_loops(c: &mut Criterion) {
    // as the ddbench binary does at start-up (without it the CPU student figure was 40 % lower
    // than `ddbench speed`'s: every call's fresh activations paid mmap page faults)
    ddbench::alloc::tune_for_tensors();
    let dev = tch::Device::cuda_if_available();
    let batch = if dev.is_cuda() { 256 } else { 32 };
    let asked = std::env::var("DDBENCH_LEVERS").unwrap_or_else(|_| "eager".into());
    let levers = asked
        .parse::<ddbench::speed::levers::Levers>()
        .expect("DDBENCH_LEVERS")
        .resolve(dev, &|m| eprintln!("{m}"));
    let name = levers.name();
    let device = if dev.is_cuda() { "cuda" } else { "cpu" };
    let mut group = c.benchmark_group(match name.as_str() {
        "eager" => device.to_string(),
        _ => format!("{device}/{name}"),
    });
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for mut w in ddbench::speed::workloads::all(dev, batch, levers)
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
