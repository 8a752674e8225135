//! A test transform for hot swaps: rows say version v2.
//! The logic is in tests/guests/swap/guest.rs.

const VERSION: &str = "v2";
const FAIL_INIT: bool = false;
const TRAP: bool = false;
const WRONG_DIM: bool = false;

include!("../../swap/guest.rs");
