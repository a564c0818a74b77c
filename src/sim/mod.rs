//! The simulated cloud served by `evacctl-sim`. (Being written: see the foundation issue.)
