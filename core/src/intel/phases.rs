//! Timings of the phases of a match call (index build, each column, the output table),
//! logged at debug level: wall seconds and the process's user and system CPU seconds, so
//! a profile on a shared machine still says where the CPU went.

use std::time::Instant;

/// A stopwatch that logs a line per phase when debug logging is on (and costs nothing
/// otherwise).
pub(super) struct Phases {
    on: bool,
    wall: Instant,
    cpu: (f64, f64),
}

/// User and system CPU seconds of this process so far (0 where unknown).
fn process_cpu() -> (f64, f64) {
    #[cfg(unix)]
    {
        // SAFETY: getrusage writes the struct it is given and nothing else; a zeroed rusage
        // is a valid value of that plain C struct.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } == 0 {
            let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
            return (t(u.ru_utime), t(u.ru_stime));
        }
    }
    (0.0, 0.0)
}

impl Phases {
    pub(super) fn start() -> Self {
        let on = log::log_enabled!(log::Level::Debug);
        Phases {
            on,
            wall: Instant::now(),
            cpu: if on { process_cpu() } else { (0.0, 0.0) },
        }
    }

    /// Logs the phase that just ended as `what` and starts the next.
    pub(super) fn lap(&mut self, what: impl FnOnce() -> String) {
        if !self.on {
            return;
        }
        let cpu = process_cpu();
        log::debug!(
            "intel match, {}: {:.3} s wall, {:.3} s user, {:.3} s system",
            what(),
            self.wall.elapsed().as_secs_f64(),
            cpu.0 - self.cpu.0,
            cpu.1 - self.cpu.1
        );
        self.wall = Instant::now();
        self.cpu = cpu;
    }

    /// Whether phases are logged.
    pub(super) fn on(&self) -> bool {
        self.on
    }
}
