//! Open-loop pacing: request slots at a fixed rate, handed out at sub-millisecond precision.
//!
//! tokio's timer works in whole milliseconds and rounds a deadline up to its next tick, so a
//! request that slept to its slot with `sleep_until` started 0-1 ms late, and the delay was
//! counted as latency: a 0.15 ms cache hit read as p50 0.65 ms. Here one thread sleeps to each
//! slot on the operating system's high-resolution timer (tens of microseconds late) and hands
//! the slot out as a ticket; whichever worker is free takes the next one. Latency still counts
//! from the slot, so a backlog shows as latency, not as fewer requests (no coordinated
//! omission), and nothing spins: a waiting worker costs no CPU.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};

/// The slots of one open-loop run, as tickets.
pub struct Pacer {
    tickets: Mutex<mpsc::UnboundedReceiver<Instant>>,
}

impl Pacer {
    /// Starts handing out `count` slots, `1 / rate` seconds apart from `started`.
    pub fn start(rate: f64, count: u64, started: Instant) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("pacer".into())
            .spawn(move || {
                for index in 0..count {
                    let slot = started + Duration::from_secs_f64(index as f64 / rate);
                    let now = Instant::now();
                    if slot > now {
                        std::thread::sleep(slot - now);
                    }
                    // Every worker gone (the run ended early): nobody to hand slots to.
                    if tx.send(slot).is_err() {
                        return;
                    }
                }
            })
            .expect("the pacer thread starts");
        Arc::new(Self {
            tickets: Mutex::new(rx),
        })
    }

    /// The next slot, once it has come; `None` when every slot has been handed out.
    pub async fn next(&self) -> Option<Instant> {
        self.tickets.lock().await.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work of a known length, done on the CPU (a sleep would carry the timer's own delay).
    fn work(length: Duration) {
        let started = Instant::now();
        while started.elapsed() < length {
            std::hint::spin_loop();
        }
    }

    fn median_ms(mut values: Vec<Duration>) -> f64 {
        values.sort();
        values[values.len() / 2].as_secs_f64() * 1e3
    }

    /// A request that takes 0.15 ms, at 500 per second, measures about 0.15 ms from its slot.
    /// With tokio's `sleep_until` to each slot this test failed: a median of 1.53-1.56 ms in
    /// two runs here (the timer's rounding up to its next tick on top of the work).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn latency_from_the_slot_is_the_work_not_the_timer() {
        let known = Duration::from_micros(150);
        let started = Instant::now() + Duration::from_millis(5);
        let pacer = Pacer::start(500.0, 200, started);
        let mut latencies = Vec::new();
        while let Some(slot) = pacer.next().await {
            work(known);
            latencies.push(slot.elapsed());
        }
        assert_eq!(latencies.len(), 200, "every slot is handed out once");
        let median = median_ms(latencies);
        assert!(
            (0.15..0.45).contains(&median),
            "median latency {median:.3} ms for 0.150 ms of work"
        );
    }

    /// Slots keep their schedule: a slow worker's backlog is latency, not lost requests.
    #[tokio::test]
    async fn a_backlog_shows_as_latency() {
        let started = Instant::now();
        let pacer = Pacer::start(2000.0, 20, started);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut late = Vec::new();
        while let Some(slot) = pacer.next().await {
            late.push(slot.elapsed());
        }
        assert_eq!(late.len(), 20);
        // The first slot waited the whole 30 ms; slots are 0.5 ms apart.
        assert!(late[0] >= Duration::from_millis(29), "{late:?}");
        assert!(late[0] > late[19], "{late:?}");
    }
}
