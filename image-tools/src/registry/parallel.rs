//! Runs one job per item on a few threads; the first error stops the jobs not yet
//! started (and, through `stop`, those that watch it) and is returned.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pub fn run<T: Sync, E: Send>(
    items: &[T],
    jobs: usize,
    stop: &AtomicBool,
    f: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let next = Mutex::new(items.iter());
    let failed: Mutex<Option<E>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(items.len()) {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Some(item) = next.lock().expect("queue").next() else {
                    break;
                };
                if let Err(e) = f(item) {
                    stop.store(true, Ordering::Relaxed);
                    failed.lock().expect("error slot").get_or_insert(e);
                    break;
                }
            });
        }
    });
    match failed.into_inner().expect("error slot") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn runs_all_or_stops_at_an_error() {
        let n = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        run(&[1, 2, 3, 4, 5], 3, &stop, |i| {
            n.fetch_add(*i, Ordering::Relaxed);
            Ok::<(), String>(())
        })
        .unwrap();
        assert_eq!(n.load(Ordering::Relaxed), 15);
        let stop = AtomicBool::new(false);
        let err = run(&[1, 2, 3], 1, &stop, |i| {
            if *i == 2 {
                Err(format!("bad {i}"))
            } else {
                Ok(())
            }
        });
        assert_eq!(err, Err("bad 2".to_string()));
        assert!(stop.load(Ordering::Relaxed));
    }
}
