//! The simulated datacenter behind `bringup demo`.
