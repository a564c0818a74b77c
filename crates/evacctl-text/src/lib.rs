//! The text conventions evacctl's pure core and its API clients share: names an operator may
//! mistype ([`names`]) and the timestamps OpenStack writes ([`time`]). A crate of its own
//! because neither side may import the other.

pub mod names;
pub mod time;
