//! A test transform for hot swaps whose init always fails.
//! The logic is in tests/guests/swap/guest.rs.

const VERSION: &str = "v3";
const FAIL_INIT: bool = true;
const TRAP: bool = false;
const WRONG_DIM: bool = false;

include!("../../swap/guest.rs");
