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

/// What a worker's children get: a GPU of their own, and their share of the CPU's threads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Slot<'a> {
    pub gpu: Option<&'a str>,
    /// `OMP_NUM_THREADS` for the child (none: libtorch's default, every core)
    pub cpu_threads: Option<usize>,
}

/// Each worker's share of `cores` when `workers` children run at once: libtorch gives every
/// process a thread per core, and several at once oversubscribe the cores (OpenMP's spinning
/// threads then slow each of them several-fold). None with one worker, or when the user set
/// `OMP_NUM_THREADS` (`user`) themselves.
pub fn cpu_threads_of(workers: usize, cores: usize, user: Option<&str>) -> Option<usize> {
    (workers > 1 && user.is_none()).then(|| (cores / workers).max(1))
}

/// Runs `work(job, slot)` for every job on up to `workers` threads and hands each result to
/// `done` on this thread as it comes; an error of `done` stops handing out jobs.
pub fn run_all<R: Send>(
    jobs: &[usize],
    workers: usize,
    gpus: &[String],
    work: impl Fn(usize, Slot) -> R + Sync,
    mut done: impl FnMut(usize, R) -> Result<()>,
) -> Result<()> {
    let queue = Mutex::new(jobs.iter().copied().collect::<VecDeque<usize>>());
    let n = workers.min(jobs.len());
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let user = std::env::var("OMP_NUM_THREADS").ok();
    let cpu_threads = cpu_threads_of(n, cores, user.as_deref());
    let (tx, rx) = std::sync::mpsc::channel::<(usize, R)>();
    std::thread::scope(|s| {
        for w in 0..n {
            let (tx, queue, work) = (tx.clone(), &queue, &work);
            let slot = Slot {
                gpu: gpu_of(w, workers, gpus),
                cpu_threads,
            };
            s.spawn(move || loop {
                let Some(job) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                    break;
                };
                if tx.send((job, work(job, slot))).is_err() {
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
    fn several_workers_share_the_cores_unless_the_user_chose() {
        assert_eq!(cpu_threads_of(1, 16, None), None);
        assert_eq!(cpu_threads_of(4, 16, None), Some(4));
        assert_eq!(cpu_threads_of(3, 16, None), Some(5));
        assert_eq!(cpu_threads_of(8, 2, None), Some(1));
        assert_eq!(cpu_threads_of(4, 16, Some("2")), None);
    }

    #[test]
    fn every_worker_gets_its_share_of_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let slots = Mutex::new(Vec::new());
        run_all(
            &[0, 1, 2, 3],
            2,
            &[],
            |_, slot| slots.lock().unwrap().push(slot.cpu_threads),
            |_, _| Ok(()),
        )
        .unwrap();
        let want = if std::env::var_os("OMP_NUM_THREADS").is_some() {
            None
        } else {
            Some((cores / 2).max(1))
        };
        assert_eq!(slots.into_inner().unwrap(), vec![want; 4]);
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
