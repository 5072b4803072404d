//! The job queue: `workers` threads take jobs in order, one GPU each when several are visible,
//! and every finished job is handed back to the calling thread (the only writer of the records).

use anyhow::Result;
use std::collections::VecDeque;
use std::sync::Mutex;

/// The GPUs `CUDA_VISIBLE_DEVICES` lists (none when unset).
pub fn visible_gpus() -> Vec<String> {
    std::env::var("CUDA_VISIBLE_DEVICES")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The GPU of worker `w`: one each when there are several workers and several GPUs, else none
/// (the child sees what bench sees).
pub fn gpu_of(w: usize, workers: usize, gpus: &[String]) -> Option<&str> {
    (workers > 1 && gpus.len() > 1).then(|| gpus[w % gpus.len()].as_str())
}

/// Runs `work(job, gpu)` for every job on up to `workers` threads and hands each result to
/// `done` on this thread as it comes; an error of `done` stops handing out jobs.
pub fn run_all<R: Send>(
    jobs: &[usize],
    workers: usize,
    gpus: &[String],
    work: impl Fn(usize, Option<&str>) -> R + Sync,
    mut done: impl FnMut(usize, R) -> Result<()>,
) -> Result<()> {
    let queue = Mutex::new(jobs.iter().copied().collect::<VecDeque<usize>>());
    let n = workers.min(jobs.len());
    let (tx, rx) = std::sync::mpsc::channel::<(usize, R)>();
    std::thread::scope(|s| {
        for w in 0..n {
            let (tx, queue, work) = (tx.clone(), &queue, &work);
            let gpu = gpu_of(w, workers, gpus);
            s.spawn(move || loop {
                let Some(job) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                    break;
                };
                if tx.send((job, work(job, gpu))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (job, r) in rx {
            if let Err(e) = done(job, r) {
                queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
                return Err(e);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_and_comes_back() {
        let mut got = Vec::new();
        run_all(
            &[3, 1, 4, 5],
            2,
            &[],
            |j, _| j * 10,
            |j, r| {
                got.push((j, r));
                Ok(())
            },
        )
        .unwrap();
        got.sort();
        assert_eq!(got, [(1, 10), (3, 30), (4, 40), (5, 50)]);
    }

    #[test]
    fn workers_get_one_gpu_each_only_with_several() {
        let gpus = vec!["0".to_string(), "1".to_string()];
        assert_eq!(gpu_of(0, 2, &gpus), Some("0"));
        assert_eq!(gpu_of(3, 2, &gpus), Some("1"));
        assert_eq!(gpu_of(0, 1, &gpus), None);
        assert_eq!(gpu_of(1, 2, &gpus[..1]), None);
    }

    #[test]
    fn an_error_stops_the_queue() {
        let ran = std::sync::atomic::AtomicUsize::new(0);
        let r = run_all(
            &(0..100).collect::<Vec<_>>(),
            1,
            &[],
            |_, _| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            },
            |_, _| anyhow::bail!("stop"),
        );
        assert!(r.is_err());
        assert!(ran.load(std::sync::atomic::Ordering::SeqCst) < 50);
    }
}
