//! A test transform for hot swaps that traps on every record.
//! The logic is in tests/guests/swap/guest.rs.

const VERSION: &str = "v3";
const FAIL_INIT: bool = false;
const TRAP: bool = true;
const WRONG_DIM: bool = false;

include!("../../swap/guest.rs");
