//! Group-coordinator requests of our own, beside librdkafka's: the repair of a consumer group
//! whose recorded leader is gone (tansu 0.6), see [`ghost`].

mod ghost;
mod wire;

pub(crate) use ghost::{Asking, Finding, check_and_repair, recorded_leader};
